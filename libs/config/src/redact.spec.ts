import { buildAppConfig } from './app-config.loader';
import { redactConfig, redactRuntime, redactUrl } from './redact';

const SECRETS = ['hunter2', 'reader', 'admin-token', 'db-password', 's3-secret', 'AKIDSECRET'];

const config = buildAppConfig(
  {
    remotes: {
      alpine: {
        package: 'alpine',
        base_url: 'https://mirror.example.org/alpine/',
        immutable_patterns: ['.*/v3\\.18/.*\\.apk$'],
        include_patterns: ['alpine/v3\\.18/'],
        username: 'reader',
        password: '${ALPINE_PASSWORD}',
      },
      el: { package: 'rpm', base_url: 'https://mirror.example.org/el' },
      hub: { package: 'docker', base_url: 'https://registry.example.org', password: 'hunter2' },
      hosted: { package: 'local', allow_overwrite: true },
    },
    docker: { default_remote: 'hub' },
  },
  {
    ALPINE_PASSWORD: 'hunter2',
    ADMIN_TOKEN: 'admin-token',
    DATABASE_URL: 'postgres://app:db-password@db.internal:5432/cache',
    REDIS_URL: 'redis://:hunter2@redis.internal:6379',
    STORAGE_DRIVER: 's3',
    S3_BUCKET: 'artifacts',
    S3_ENDPOINT: 'https://s3.internal',
    S3_ACCESS_KEY_ID: 'AKIDSECRET',
    S3_SECRET_ACCESS_KEY: 's3-secret',
  },
);

describe('redactConfig', () => {
  const view = redactConfig(config);

  it('shows every remote in the keys of the remotes file, credentials as ***', () => {
    expect(view).toEqual({
      remotes: {
        alpine: {
          package: 'alpine',
          base_url: 'https://mirror.example.org/alpine',
          immutable_patterns: ['.*/v3\\.18/.*\\.apk$'],
          mutable_patterns: ['(?:.*/)?APKINDEX\\.tar\\.gz$'],
          include_patterns: ['alpine/v3\\.18/'],
          mutable_ttl: 300,
          check_mutable_updates: false,
          negative_ttl: 60,
          upstream_missing: 'serve_stale',
          upstream_timeout: 30,
          redirect_hosts: [],
          max_size: null,
          evict_unused_after: null,
          offline: false,
          circuit: { failures: 5, window: 30, open_for: 60 },
          max_requests_per_minute: null,
          max_concurrent: null,
          username: '***',
          password: '***',
        },
        el: {
          package: 'rpm',
          base_url: 'https://mirror.example.org/el',
          immutable_patterns: ['.*\\.d?rpm$', '(?:.*/)?repodata/[0-9a-f]{32,128}-[^/]+$'],
          mutable_patterns: ['(?:.*/)?repodata/repomd\\.xml(?:\\.asc|\\.key)?$'],
          include_patterns: [],
          mutable_ttl: 300,
          check_mutable_updates: false,
          negative_ttl: 60,
          upstream_missing: 'serve_stale',
          upstream_timeout: 30,
          redirect_hosts: [],
          max_size: null,
          evict_unused_after: null,
          offline: false,
          circuit: { failures: 5, window: 30, open_for: 60 },
          max_requests_per_minute: null,
          max_concurrent: null,
        },
        hub: expect.objectContaining({
          package: 'docker',
          password: '***',
          tag_check_window: 0,
        }),
        hosted: { package: 'local', allow_overwrite: true },
      },
      docker: { default_remote: 'hub' },
      storage: { max_size: null, evict_interval: 60, gc_grace: 600 },
    });
    expect(view.remotes.hub).not.toHaveProperty('username');
  });

  it('is JSON-safe', () => {
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
  });

  it('contains no secret of the configuration', () => {
    const json = JSON.stringify(view);
    for (const secret of SECRETS) {
      expect(json).not.toContain(secret);
    }
    expect(json).not.toContain('redis.internal');
    expect(json).not.toContain('db.internal');
  });
});

describe('redactRuntime', () => {
  it('keeps what an operator needs to see and hides every secret', () => {
    const runtime = redactRuntime(config);
    expect(runtime).toMatchObject({
      port: 8080,
      redis: { url: 'redis://:***@redis.internal:6379' },
      database_url: 'postgres://***:***@db.internal:5432/cache',
      admin_token: '***',
      storage: {
        driver: 's3',
        endpoint: 'https://s3.internal',
        bucket: 'artifacts',
        access_key_id: '***',
        secret_access_key: '***',
      },
    });
    const json = JSON.stringify(runtime);
    for (const secret of SECRETS) {
      expect(json).not.toContain(secret);
    }
  });

  it('lists the sentinels and hides both Redis passwords', () => {
    const sentinel = buildAppConfig(
      { remotes: {} },
      {
        REDIS_SENTINELS: 'sentinel-1.internal:26379,[fd00::7]:26380',
        REDIS_SENTINEL_NAME: 'artifacts',
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
        REDIS_URL: 'redis://cache:hunter2@ignored/3',
      },
    );
    const runtime = redactRuntime(sentinel);
    expect(runtime.redis).toEqual({
      sentinels: ['sentinel-1.internal:26379', '[fd00::7]:26380'],
      name: 'artifacts',
      username: 'cache',
      password: '***',
      db: 3,
      sentinel_password: '***',
    });
    expect(JSON.stringify(runtime)).not.toMatch(/hunter2|sentinel-secret/);
  });

  it('says null for secrets that are not set', () => {
    const plain = buildAppConfig({ remotes: {} });
    expect(redactRuntime(plain)).toMatchObject({
      admin_token: null,
      storage: { driver: 'fs' },
      database_url: 'postgres://***@127.0.0.1:5432/artifactcache',
    });
  });
});

describe('redactUrl', () => {
  it.each([
    ['https://user:pass@host.example.org/x', 'https://***:***@host.example.org/x'],
    ['https://token@host.example.org', 'https://***@host.example.org'],
    ['redis://:secret@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    ['postgres://u:p@ss@db:5432/x', 'postgres://***:***@db:5432/x'],
    ['https://host.example.org', 'https://host.example.org'],
    ['https://host.example.org/@scope/pkg?a=b@c', 'https://host.example.org/@scope/pkg?a=b@c'],
    ['not a url', 'not a url'],
  ])('%s → %s', (input, output) => {
    expect(redactUrl(input)).toBe(output);
  });
});
