import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildAppConfig, loadAppConfig } from './app-config.loader';
import { ConfigError } from './config-error';
import {
  type AppConfig,
  type LocalRemoteConfig,
  PACKAGE_TYPES,
  type ProxyRemoteConfig,
} from './config.types';
import { RESERVED_REMOTE_NAMES } from './remote-config.schema';
import { classifyPath } from './path-rules';

const SHIPPED_CONFIG = resolve(__dirname, '../../../config/remotes.yaml');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'config-loader-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
function writeYaml(text: string): string {
  const file = join(dir, `remotes-${++fileCount}.yaml`);
  writeFileSync(file, text);
  return file;
}

function loadYaml(text: string, env: NodeJS.ProcessEnv = {}): AppConfig {
  return loadAppConfig({ ...env, ARTIFACT_CONFIG: writeYaml(text) });
}

/** The problems of a remotes file (as data) and environment that must not load. */
function problemsOf(file: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    buildAppConfig(file, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.problems;
    }
    throw error;
  }
  throw new Error('the configuration loaded');
}

const MINIMAL = {
  remotes: { files: { package: 'generic', base_url: 'https://mirror.example.org' } },
};

function problemsOfRemote(fields: Record<string, unknown>): readonly string[] {
  return problemsOf({ remotes: { x: fields } });
}

describe('loadAppConfig', () => {
  it('loads the shipped config/remotes.yaml with an empty environment', () => {
    const config = loadAppConfig({ ARTIFACT_CONFIG: SHIPPED_CONFIG });
    const remotes = Object.values(config.remotes);
    // an example of every package type
    expect(new Set(remotes.map((r) => r.package))).toEqual(new Set(PACKAGE_TYPES));
    expect(config.docker.defaultRemote).not.toBeNull();
    expect(config.remotes[config.docker.defaultRemote!].package).toBe('docker');
    for (const remote of remotes) {
      if (remote.package !== 'local') {
        expect(new URL(remote.baseUrl).hostname).toMatch(/\.example\.org$/);
      }
    }
  });

  it('finds config/remotes.yaml relative to the working directory by default', () => {
    const cwd = process.cwd();
    process.chdir(resolve(SHIPPED_CONFIG, '../..'));
    try {
      expect(loadAppConfig({}).configFile).toBe(SHIPPED_CONFIG);
    } finally {
      process.chdir(cwd);
    }
  });

  it('applies the documented environment defaults', () => {
    const file = writeYaml('remotes: {}\n');
    const config = loadAppConfig({ ARTIFACT_CONFIG: file });
    expect(config).toMatchObject({
      configFile: file,
      host: '0.0.0.0',
      port: 8080,
      fetcherPort: 8081,
      fetcherAdvertiseUrl: 'http://127.0.0.1:8081',
      redis: { mode: 'standalone', url: 'redis://127.0.0.1:6379' },
      databaseUrl: 'postgres://artifactcache@127.0.0.1:5432/artifactcache',
      storage: { driver: 'fs', path: resolve(process.cwd(), '.data/storage') },
      adminToken: null,
      fetchWaitTimeout: 300,
      fetchJobTimeout: 3600,
      janitorInterval: 600,
      leftoverMaxAge: 86400,
      remotes: {},
      docker: { defaultRemote: null },
      log: { level: 'info', format: 'auto', access: true },
    });
  });

  it('reads every variable from the given environment', () => {
    const config = loadYaml('remotes: {}\n', {
      HOST: '127.0.0.1',
      PORT: '9000',
      FETCHER_PORT: '9001',
      REDIS_URL: 'rediss://cache.internal:6380/2',
      DATABASE_URL: 'postgresql://app:pw@db.internal/cache',
      STORAGE_DRIVER: 'fs',
      STORAGE_PATH: '/var/lib/artifactcache',
      ADMIN_TOKEN: 'tok',
      FETCH_WAIT_TIMEOUT: '12.5',
      FETCH_JOB_TIMEOUT: '600',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'text',
      ACCESS_LOG: 'false',
    });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 9000,
      fetcherPort: 9001,
      fetcherAdvertiseUrl: 'http://127.0.0.1:9001',
      redis: { mode: 'standalone', url: 'rediss://cache.internal:6380/2' },
      databaseUrl: 'postgresql://app:pw@db.internal/cache',
      storage: { driver: 'fs', path: '/var/lib/artifactcache' },
      adminToken: 'tok',
      fetchWaitTimeout: 12.5,
      fetchJobTimeout: 600,
      log: { level: 'warn', format: 'text', access: false },
    });
  });

  it('does not read process.env when given an environment', () => {
    const saved = process.env.PORT;
    process.env.PORT = 'not-a-port';
    try {
      expect(loadYaml('remotes: {}\n').port).toBe(8080);
    } finally {
      if (saved === undefined) {
        delete process.env.PORT;
      } else {
        process.env.PORT = saved;
      }
    }
  });

  it('takes an empty variable as unset', () => {
    const config = loadYaml('remotes: {}\n', { ADMIN_TOKEN: '', PORT: '', STORAGE_DRIVER: ' ' });
    expect(config.adminToken).toBeNull();
    expect(config.port).toBe(8080);
    expect(config.storage.driver).toBe('fs');
  });

  it('strips the trailing slash of FETCHER_ADVERTISE_URL', () => {
    const config = buildAppConfig(MINIMAL, { FETCHER_ADVERTISE_URL: 'http://fetcher-1:8081/' });
    expect(config.fetcherAdvertiseUrl).toBe('http://fetcher-1:8081');
  });

  describe('s3 storage', () => {
    it('reads the s3 settings, path style by default with an endpoint', () => {
      const config = buildAppConfig(MINIMAL, {
        STORAGE_DRIVER: 's3',
        S3_ENDPOINT: 'http://127.0.0.1:9000/',
        S3_BUCKET: 'artifacts',
        S3_ACCESS_KEY_ID: 'id',
        S3_SECRET_ACCESS_KEY: 'secret',
      });
      expect(config.storage).toEqual({
        driver: 's3',
        endpoint: 'http://127.0.0.1:9000',
        bucket: 'artifacts',
        region: 'us-east-1',
        accessKeyId: 'id',
        secretAccessKey: 'secret',
        forcePathStyle: true,
      });
    });

    it('uses virtual-hosted style without an endpoint unless told otherwise', () => {
      const env = { STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_REGION: 'eu-west-1' };
      expect(buildAppConfig(MINIMAL, env).storage).toMatchObject({
        endpoint: null,
        region: 'eu-west-1',
        accessKeyId: null,
        secretAccessKey: null,
        forcePathStyle: false,
      });
      expect(
        buildAppConfig(MINIMAL, { ...env, S3_FORCE_PATH_STYLE: 'true' }).storage,
      ).toMatchObject({ forcePathStyle: true });
      expect(
        buildAppConfig(MINIMAL, {
          ...env,
          S3_ENDPOINT: 'https://s3.internal',
          S3_FORCE_PATH_STYLE: 'false',
        }).storage,
      ).toMatchObject({ forcePathStyle: false });
    });
  });

  describe('remotes', () => {
    it('applies the defaults of every key', () => {
      const config = buildAppConfig({
        remotes: {
          alpine: { package: 'alpine', base_url: 'https://mirror.example.org/alpine/' },
          hosted: { package: 'local' },
        },
      });
      expect(config.remotes.alpine).toMatchObject<Partial<ProxyRemoteConfig>>({
        name: 'alpine',
        package: 'alpine',
        baseUrl: 'https://mirror.example.org/alpine',
        customPatterns: false,
        includePatterns: [],
        mutableTtl: 300,
        checkMutableUpdates: false,
        negativeTtl: 60,
        upstreamMissing: 'serve_stale',
        upstreamTimeout: 30,
        username: null,
        password: null,
        maxRequestsPerMinute: null,
        maxConcurrent: null,
      });
      expect(config.remotes.hosted).toEqual<LocalRemoteConfig>({
        name: 'hosted',
        package: 'local',
        allowOverwrite: false,
      });
    });

    it('reads every key as written', () => {
      const config = loadYaml(`
remotes:
  alpine:
    package: alpine
    base_url: http://mirror.example.org:8080/alpine
    immutable_patterns: ['.*\\.apk$']
    mutable_patterns: ['.*APKINDEX\\.tar\\.gz$']
    include_patterns: ['alpine/v3\\.18/']
    mutable_ttl: 0
    check_mutable_updates: true
    negative_ttl: 0
    upstream_missing: not_found
    upstream_timeout: 2.5
    username: reader
    password: hunter2
  uploads:
    package: local
    allow_overwrite: true
  hub:
    package: docker
    base_url: https://registry.example.org
docker:
  default_remote: hub
`);
      const alpine = config.remotes.alpine as ProxyRemoteConfig;
      expect(alpine).toMatchObject({
        baseUrl: 'http://mirror.example.org:8080/alpine',
        customPatterns: true,
        mutableTtl: 0,
        checkMutableUpdates: true,
        negativeTtl: 0,
        upstreamMissing: 'not_found',
        upstreamTimeout: 2.5,
        username: 'reader',
        password: 'hunter2',
      });
      expect(alpine.includePatterns.map(String)).toEqual(['/^(?:alpine\\/v3\\.18\\/)/']);
      expect(classifyPath(alpine, 'alpine/v3.18/main/x86_64/APKINDEX.tar.gz')).toBe('mutable');
      expect(config.remotes.uploads).toMatchObject({ allowOverwrite: true });
      expect(config.docker.defaultRemote).toBe('hub');
      expect(Object.keys(config.remotes)).toEqual(['alpine', 'uploads', 'hub']);
    });

    it('substitutes environment variables before validation', () => {
      const config = loadYaml(
        `
remotes:
  alpine:
    package: alpine
    base_url: \${ALPINE_MIRROR}/alpine
    username: reader
    password: \${ALPINE_PASSWORD}
`,
        { ALPINE_MIRROR: 'https://mirror.example.org', ALPINE_PASSWORD: 'from-env' },
      );
      expect(config.remotes.alpine).toMatchObject({
        baseUrl: 'https://mirror.example.org/alpine',
        password: 'from-env',
      });
    });

    it('accepts names with digits, dots, dashes and underscores', () => {
      const config = buildAppConfig({
        remotes: {
          'docker.io': { package: 'docker', base_url: 'https://registry.example.org' },
          '0day_mirror-2': { package: 'local' },
        },
      });
      expect(Object.keys(config.remotes)).toEqual(['docker.io', '0day_mirror-2']);
    });
  });

  it('returns a deep-frozen object whose patterns still match', () => {
    const config = buildAppConfig({
      remotes: { rpm: { package: 'rpm', base_url: 'https://mirror.example.org/el' } },
    });
    const rpm = config.remotes.rpm as ProxyRemoteConfig;
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.remotes)).toBe(true);
    expect(Object.isFrozen(rpm)).toBe(true);
    expect(Object.isFrozen(rpm.immutablePatterns)).toBe(true);
    expect(Object.isFrozen(rpm.immutablePatterns[0])).toBe(true);
    expect(Object.isFrozen(config.storage)).toBe(true);
    expect(Object.isFrozen(config.docker)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    for (let i = 0; i < 3; i++) {
      expect(classifyPath(rpm, 'el/9/x86_64/Packages/bash-5.1.8-9.el9.x86_64.rpm')).toBe(
        'immutable',
      );
      expect(rpm.mutablePatterns[0].exec('el/repodata/repomd.xml')).not.toBeNull();
    }
  });
});

describe('configuration errors', () => {
  it('names an unknown package and lists the valid ones', () => {
    expect(problemsOfRemote({ package: 'rmp', base_url: 'https://mirror.example.org' })).toEqual([
      'remotes.x.package: must be one of docker, rpm, alpine, debian, generic, pypi, npm, cargo, go, local (got "rmp")',
    ]);
  });

  it('requires package', () => {
    expect(problemsOfRemote({ base_url: 'https://mirror.example.org' })).toEqual([
      'remotes.x.package: required',
    ]);
  });

  it('names the index of an invalid regex, in every pattern list', () => {
    expect(
      problemsOf({
        remotes: {
          rpm: {
            package: 'rpm',
            base_url: 'https://mirror.example.org',
            immutable_patterns: ['.*\\.rpm$', '(repodata'],
            mutable_patterns: ['[z-a]'],
            include_patterns: ['ok', 'ok', '*bad'],
          },
        },
      }),
    ).toEqual([
      'remotes.rpm.immutable_patterns[1]: invalid regex (Unterminated group)',
      'remotes.rpm.mutable_patterns[0]: invalid regex (Range out of order in character class)',
      'remotes.rpm.include_patterns[2]: invalid regex (Nothing to repeat)',
    ]);
  });

  it.each(['docker', 'rpm', 'alpine', 'debian', 'generic'])(
    'requires base_url for package %s',
    (pkg) => {
      expect(problemsOf({ remotes: { alpine: { package: pkg } } })).toEqual([
        'remotes.alpine.base_url: required',
      ]);
    },
  );

  it.each([
    ['ftp://mirror.example.org/alpine', 'must be an http(s) URL, not ftp:'],
    ['mirror.example.org/alpine', 'must be an http(s) URL'],
    [
      'https://user:pw@mirror.example.org',
      'must not contain credentials: set username and password instead',
    ],
    [
      'https://mirror.example.org/?token=1',
      'must not have a query string or fragment (paths are appended to it)',
    ],
  ])('rejects base_url %s', (url, message) => {
    expect(problemsOfRemote({ package: 'generic', base_url: url })).toEqual([
      `remotes.x.base_url: ${message}`,
    ]);
  });

  it('names every unknown key, at every level', () => {
    expect(
      problemsOf({
        remotes: { x: { packge: 'rpm', package: 'rpm', base_url: 'https://mirror.example.org' } },
        docker: { default: 'x' },
        remote: {},
      }),
    ).toEqual([
      'remotes.x.packge: unknown key',
      'docker.default: unknown key',
      'remote: unknown key',
    ]);
  });

  it.each(['Alpine', '-alpine', '.hidden', 'my mirror', 'a/b', ''])(
    'rejects the remote name "%s"',
    (name) => {
      expect(problemsOf({ remotes: { [name]: { package: 'local' } } })).toEqual([
        `remotes.${name}: invalid remote name: use lowercase letters, digits, ".", "_" and "-", starting with a letter or digit`,
      ]);
    },
  );

  it.each(RESERVED_REMOTE_NAMES)('rejects the reserved remote name %s', (name) => {
    expect(problemsOf({ remotes: { [name]: { package: 'local' } } })).toEqual([
      `remotes.${name}: reserved remote name: /${name} is a route of the gateway`,
    ]);
  });

  it('rejects keys of a proxy remote on a local remote', () => {
    expect(
      problemsOf({
        remotes: {
          hosted: { package: 'local', base_url: 'https://mirror.example.org', mutable_ttl: 5 },
        },
      }),
    ).toEqual([
      'remotes.hosted.base_url: not allowed for package local (a hosted remote has no upstream)',
      'remotes.hosted.mutable_ttl: not allowed for package local (a hosted remote has no upstream)',
    ]);
  });

  it('rejects allow_overwrite on a proxy remote', () => {
    expect(
      problemsOfRemote({
        package: 'generic',
        base_url: 'https://mirror.example.org',
        allow_overwrite: true,
      }),
    ).toEqual(['remotes.x.allow_overwrite: only allowed for package local']);
  });

  it('rejects immutable/mutable patterns on a docker remote', () => {
    expect(
      problemsOfRemote({
        package: 'docker',
        base_url: 'https://registry.example.org',
        mutable_patterns: ['.*'],
      }),
    ).toEqual([
      'remotes.x.mutable_patterns: not used by package docker (manifests by digest and blobs are immutable, tags mutable); use include_patterns to restrict images',
    ]);
  });

  it.each([
    ['mutable_ttl', -1, 'must be an integer >= 0'],
    ['mutable_ttl', 1.5, 'must be an integer >= 0'],
    ['mutable_ttl', '300', 'must be a number, got a string'],
    ['negative_ttl', -60, 'must be an integer >= 0'],
    ['upstream_timeout', 0, 'must be a number > 0'],
    ['check_mutable_updates', 'yes', 'must be true or false, got a string'],
    ['upstream_missing', 'stale', 'must be one of serve_stale, not_found (got "stale")'],
    ['password', 1234, 'must be a string, got a number'],
    ['immutable_patterns', '.*', 'must be a list, got a string'],
    ['max_size', '50 parsecs', 'must be a size above 0 such as 512MiB, 50GiB or 2TiB'],
    ['max_size', 0, 'must be a size above 0 such as 512MiB, 50GiB or 2TiB'],
    ['evict_unused_after', '1y', 'must be a duration above 0 such as 90m, 12h or 30d'],
    ['evict_unused_after', -5, 'must be a duration above 0 such as 90m, 12h or 30d'],
    ['max_requests_per_minute', 0, 'must be an integer > 0'],
    ['max_requests_per_minute', 2.5, 'must be an integer > 0'],
    ['max_concurrent', -1, 'must be an integer > 0'],
    ['tag_check_window', 5, 'only allowed for package docker (tags are docker manifests)'],
  ])('rejects %s: %j', (key, value, message) => {
    expect(
      problemsOfRemote({ package: 'rpm', base_url: 'https://mirror.example.org', [key]: value }),
    ).toEqual([`remotes.x.${key}: ${message}`]);
  });

  it('loads the upstream limits, and the tag check window of a docker remote', () => {
    const config = buildAppConfig({
      remotes: {
        hub: {
          package: 'docker',
          base_url: 'https://registry.example.org',
          max_requests_per_minute: 100,
          max_concurrent: 4,
          tag_check_window: 5,
        },
        quay: { package: 'docker', base_url: 'https://registry.example.org' },
      },
    });
    expect(config.remotes.hub).toMatchObject({
      maxRequestsPerMinute: 100,
      maxConcurrent: 4,
      tagCheckWindow: 5,
    });
    expect(config.remotes.quay).toMatchObject({ tagCheckWindow: 0 });
    expect(
      problemsOfRemote({
        package: 'docker',
        base_url: 'https://registry.example.org',
        tag_check_window: -1,
      }),
    ).toEqual(['remotes.x.tag_check_window: must be a number of seconds >= 0']);
  });

  it('loads the storage limits in bytes and seconds', () => {
    const config = buildAppConfig({
      remotes: {
        files: {
          package: 'generic',
          base_url: 'https://mirror.example.org',
          max_size: '50GiB',
          evict_unused_after: '30d',
        },
        plain: { package: 'generic', base_url: 'https://mirror.example.org' },
      },
      storage: { max_size: '2TiB' },
    });
    expect(config.remotes.files).toMatchObject({
      maxSize: 50 * 1024 ** 3,
      evictUnusedAfter: 2_592_000,
    });
    expect(config.remotes.plain).toMatchObject({ maxSize: null, evictUnusedAfter: null });
    expect(config.eviction).toEqual({
      maxSize: 2 * 1024 ** 4,
      intervalSeconds: 60,
      gcGraceSeconds: 600,
    });
  });

  it('takes storage limits on a docker remote, and refuses unknown storage keys', () => {
    const hub = {
      package: 'docker',
      base_url: 'https://registry.example.org',
      max_size: '1GiB',
      evict_unused_after: '7d',
    };
    expect(problemsOf({ remotes: { hub }, storage: { max_bytes: 5 } })).toEqual([
      'storage.max_bytes: unknown key',
    ]);
    expect(buildAppConfig({ remotes: { hub } }).remotes.hub).toMatchObject({
      maxSize: 1024 ** 3,
      evictUnusedAfter: 604_800,
    });
  });

  it('rejects a default_remote that does not exist or is not docker', () => {
    const remotes = {
      hub: { package: 'docker', base_url: 'https://registry.example.org' },
      el: { package: 'rpm', base_url: 'https://mirror.example.org' },
    };
    expect(problemsOf({ remotes, docker: { default_remote: 'dockerhub' } })).toEqual([
      'docker.default_remote: no remote named "dockerhub"',
    ]);
    expect(problemsOf({ remotes, docker: { default_remote: 'el' } })).toEqual([
      'docker.default_remote: remote "el" is not of package docker',
    ]);
  });

  it('names the remote and field of an unset environment variable, once', () => {
    expect(
      problemsOf({
        remotes: {
          alpine: {
            package: 'alpine',
            base_url: '${ALPINE_MIRROR}',
            password: '${ALPINE_PASSWORD}',
          },
        },
      }),
    ).toEqual([
      'remotes.alpine.base_url: environment variable ALPINE_MIRROR is not set',
      'remotes.alpine.password: environment variable ALPINE_PASSWORD is not set',
    ]);
  });

  it('requires the remotes map', () => {
    expect(problemsOf({})).toEqual(['remotes: required']);
    expect(problemsOf({ remotes: null })).toEqual(['remotes: must be a map, got empty']);
    expect(problemsOf({ remotes: { x: null } })).toEqual(['remotes.x: must be a map, got empty']);
    expect(problemsOf(null)).toEqual(['(top level): must be a map, got empty']);
  });

  it.each([
    ['PORT', '0', 'must be an integer between 1 and 65535'],
    ['PORT', '65536', 'must be an integer between 1 and 65535'],
    ['PORT', '80a', 'must be an integer between 1 and 65535'],
    ['FETCHER_PORT', '-1', 'must be an integer between 1 and 65535'],
    ['HOST', 'http://0.0.0.0', 'must be an IP address or host name (e.g. 0.0.0.0, ::, 127.0.0.1)'],
    [
      'FETCHER_ADVERTISE_URL',
      'fetcher:8081',
      'must be a URL starting with http:// or https:// (got fetcher://)',
    ],
    [
      'REDIS_URL',
      'http://127.0.0.1:6379',
      'must be a URL starting with redis:// or rediss:// (got http://)',
    ],
    ['REDIS_URL', 'not a url', 'must be a URL starting with redis:// or rediss://'],
    [
      'DATABASE_URL',
      'mysql://db/x',
      'must be a URL starting with postgres:// or postgresql:// (got mysql://)',
    ],
    ['STORAGE_DRIVER', 'gcs', 'must be one of fs, s3 (got "gcs")'],
    ['FETCH_WAIT_TIMEOUT', '0', 'must be a number of seconds > 0'],
    ['FETCH_WAIT_TIMEOUT', '5m', 'must be a number of seconds > 0'],
  ])('rejects %s=%s', (name, value, message) => {
    expect(problemsOf(MINIMAL, { [name]: value })).toEqual([`${name}: ${message}`]);
  });

  describe('Redis Sentinel', () => {
    const redisOf = (env: NodeJS.ProcessEnv) => buildAppConfig(MINIMAL, env).redis;

    it('finds the primary through the sentinels, with password and database from REDIS_URL', () => {
      expect(
        redisOf({
          REDIS_SENTINELS: ' sentinel-1.internal:26379, 10.0.0.7:26380,[fd00::7]:26381,sentinel-4 ',
          REDIS_SENTINEL_NAME: 'artifacts',
          REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
          REDIS_URL: 'redis://cache:p%40ss@ignored:1/2',
        }),
      ).toEqual({
        mode: 'sentinel',
        sentinels: [
          { host: 'sentinel-1.internal', port: 26379 },
          { host: '10.0.0.7', port: 26380 },
          { host: 'fd00::7', port: 26381 },
          { host: 'sentinel-4', port: 26379 },
        ],
        name: 'artifacts',
        username: 'cache',
        password: 'p@ss',
        db: 2,
        sentinelPassword: 'sentinel-secret',
      });
    });

    it('needs no REDIS_URL: no password, database 0', () => {
      expect(redisOf({ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'm' })).toEqual({
        mode: 'sentinel',
        sentinels: [{ host: '127.0.0.1', port: 26379 }],
        name: 'm',
        username: null,
        password: null,
        db: 0,
        sentinelPassword: null,
      });
      expect(
        redisOf({
          REDIS_SENTINELS: '127.0.0.1:26379',
          REDIS_SENTINEL_NAME: 'm',
          REDIS_URL: 'redis://:only-password@x',
        }),
      ).toMatchObject({ username: null, password: 'only-password', db: 0 });
    });

    it('leaves REDIS_URL as written when no sentinels are set (blank counts as unset)', () => {
      expect(redisOf({ REDIS_URL: 'redis://:pw@redis.internal:6390/4?family=6' })).toEqual({
        mode: 'standalone',
        url: 'redis://:pw@redis.internal:6390/4?family=6',
      });
      expect(redisOf({ REDIS_SENTINELS: ' ', REDIS_SENTINEL_NAME: '' })).toEqual({
        mode: 'standalone',
        url: 'redis://127.0.0.1:6379',
      });
    });

    it.each<[NodeJS.ProcessEnv, string[]]>([
      [
        { REDIS_SENTINELS: '127.0.0.1:26379' },
        ['REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set'],
      ],
      [{ REDIS_SENTINEL_NAME: 'm' }, ['REDIS_SENTINELS: required when REDIS_SENTINEL_NAME is set']],
      [
        { REDIS_SENTINEL_PASSWORD: 'x' },
        ['REDIS_SENTINELS: required when REDIS_SENTINEL_PASSWORD is set'],
      ],
      [
        { REDIS_SENTINELS: 'a:1,b:0,c:65536,d:x,,e f:1,http://g:1', REDIS_SENTINEL_NAME: 'm' },
        [
          'REDIS_SENTINELS: must be a comma-separated list of host:port (port 1-65535); not valid: ' +
            '"b:0", "c:65536", "d:x", "", "e f:1", "http://g:1"',
        ],
      ],
      [
        { REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'my master' },
        [
          'REDIS_SENTINEL_NAME: must be the master group name of the sentinels (letters, digits, ._:-)',
        ],
      ],
      [
        { REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'rediss://:pw@x/1' },
        ['REDIS_URL: rediss:// (TLS) is not supported together with REDIS_SENTINELS; use redis://'],
      ],
      [
        { REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://x/db2' },
        ['REDIS_URL: the path must be a database number (redis://host/2)'],
      ],
      [
        { REDIS_SENTINELS: 'a:x', REDIS_URL: 'redis://x/db2' },
        [
          'REDIS_SENTINELS: must be a comma-separated list of host:port (port 1-65535); not valid: "a:x"',
          'REDIS_SENTINEL_NAME: required when REDIS_SENTINELS is set',
          'REDIS_URL: the path must be a database number (redis://host/2)',
        ],
      ],
    ])('rejects %j', (env, problems) => {
      expect(problemsOf(MINIMAL, env)).toEqual(problems);
    });
  });

  it('checks the s3 settings', () => {
    expect(
      problemsOf(MINIMAL, {
        STORAGE_DRIVER: 's3',
        S3_ENDPOINT: 's3.internal',
        S3_ACCESS_KEY_ID: 'id',
        S3_FORCE_PATH_STYLE: 'maybe',
      }),
    ).toEqual([
      'S3_ENDPOINT: must be a URL starting with http:// or https://',
      'S3_BUCKET: required when STORAGE_DRIVER=s3',
      'S3_SECRET_ACCESS_KEY: required when S3_ACCESS_KEY_ID is set',
      'S3_FORCE_PATH_STYLE: must be true or false',
    ]);
  });

  it('lists every problem of the environment and the file in one error, one per line', () => {
    const file = writeYaml(`
remotes:
  alpine:
    package: alpine
  rpm:
    package: rpm
    base_url: https://mirror.example.org/el
    immutable_patterns: ['.*\\.rpm$', '(']
  x:
    packge: rpm
`);
    let error: unknown;
    try {
      loadAppConfig({ ARTIFACT_CONFIG: file, PORT: 'http' });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message, problems } = error as ConfigError;
    expect(problems).toEqual([
      'PORT: must be an integer between 1 and 65535',
      'remotes.alpine.base_url: required',
      'remotes.rpm.immutable_patterns[1]: invalid regex (Unterminated group)',
      'remotes.x.package: required',
      'remotes.x.packge: unknown key',
    ]);
    expect(message.split('\n')).toEqual([
      'Invalid configuration (5 problems):',
      ...problems.map((problem) => `  ${problem}`),
    ]);
  });

  it('puts a single problem on one line', () => {
    expect(() => buildAppConfig(MINIMAL, { PORT: '0' })).toThrow(
      new ConfigError(['PORT: must be an integer between 1 and 65535']),
    );
    expect(new ConfigError(['a: b']).message).toBe('Invalid configuration: a: b');
  });

  it('names the path of a missing file', () => {
    const missing = join(dir, 'nope.yaml');
    expect(() => loadAppConfig({ ARTIFACT_CONFIG: missing })).toThrow(
      `ARTIFACT_CONFIG: cannot read remotes file ${missing}: no such file`,
    );
  });

  it('names the path of a directory given as the file', () => {
    const directory = join(dir, 'a-directory');
    mkdirSync(directory);
    expect(() => loadAppConfig({ ARTIFACT_CONFIG: directory })).toThrow(
      `ARTIFACT_CONFIG: cannot read remotes file ${directory}: is a directory`,
    );
  });

  it('resolves a relative ARTIFACT_CONFIG against the working directory', () => {
    expect(() => loadAppConfig({ ARTIFACT_CONFIG: 'no/such/remotes.yaml' })).toThrow(
      `cannot read remotes file ${resolve(process.cwd(), 'no/such/remotes.yaml')}: no such file`,
    );
  });

  it('gives the line and column of a YAML syntax error', () => {
    const file = writeYaml('remotes:\n  a:\n    package: rpm\n   base_url: [1,\n');
    expect(() => loadAppConfig({ ARTIFACT_CONFIG: file })).toThrow(
      `${file}: YAML syntax error at line 4, column 1: All mapping items must start at the same column`,
    );
  });

  it('rejects a duplicate key', () => {
    const file = writeYaml('remotes:\n  a:\n    package: local\n  a:\n    package: local\n');
    expect(() => loadAppConfig({ ARTIFACT_CONFIG: file })).toThrow(
      `${file}: YAML syntax error at line 4, column 3: Map keys must be unique`,
    );
  });

  it('reports an empty file', () => {
    expect(() => loadYaml('# nothing yet\n')).toThrow('(top level): must be a map, got empty');
  });
});
