import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from './helpers/stack';
import { waitFor } from '../tools/wait-for';

const ENTRY = join(__dirname, '..', 'dist/apps/gateway/src/main.js');

describe('foundation: both apps boot and report their health', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      remotes: {
        'alpine-test': {
          package: 'alpine',
          base_url: 'http://127.0.0.1:9/alpine',
          username: 'mirror-user',
          password: 's3cret-pa55',
        },
        'local-test': { package: 'local' },
      },
    });
  });

  afterAll(() => stack.stop());

  it('GET / names the service, its version and the remotes', async () => {
    const body = await (await fetch(`${stack.url()}/`)).json();
    expect(body).toEqual({
      name: 'artifact-cache',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      remotes: ['alpine-test', 'local-test'],
    });
  });

  it('GET /health checks Redis, Postgres and storage', async () => {
    // Start-up does not wait for Postgres (cached files are served without it): on a loaded
    // machine the first connection may come with the background retry, 5 s later.
    const response = await waitFor(
      async () => {
        const answer = await fetch(`${stack.url()}/health`);
        return answer.status === 200 ? answer : null;
      },
      { description: 'the gateway healthy', timeoutMs: 15_000 },
    );
    expect(await response.json()).toEqual({
      status: 'healthy',
      checks: { redis: 'ok', postgres: 'ok', storage: 'ok' },
    });
  });

  it('the fetcher serves the same /health on its own port', async () => {
    const health = await waitFor(
      async () => {
        const body = (await (await fetch(`${stack.fetchers[0].url}/health`)).json()) as {
          status: string;
        };
        return body.status === 'healthy' ? body : null;
      },
      { description: 'the fetcher healthy', timeoutMs: 15_000 },
    );
    expect(health).toMatchObject({ status: 'healthy' });
  });

  it('GET /config shows the remotes with every credential redacted', async () => {
    const response = await fetch(`${stack.url()}/config`);
    const text = await response.text();
    expect(text).not.toContain('s3cret-pa55');
    expect(text).not.toContain('mirror-user');
    const body: any = JSON.parse(text);
    expect(body.remotes['alpine-test']).toMatchObject({
      package: 'alpine',
      base_url: 'http://127.0.0.1:9/alpine',
      username: '***',
      password: '***',
      mutable_ttl: 300,
    });
    expect(body.remotes['local-test']).toMatchObject({ package: 'local', allow_overwrite: false });
  });

  it('GET /v2/ answers the registry ping', async () => {
    const response = await fetch(`${stack.url()}/v2/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await response.json()).toEqual({});
  });

  it('GET /metrics is Prometheus text with process metrics', async () => {
    const response = await fetch(`${stack.url()}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toContain('process_resident_memory_bytes');
  });

  it('creates the schema through migrations', async () => {
    const tables = await stack.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['cached_artifacts', 'hosted_files', 'schema_migrations']),
    );
  });
});

describe('foundation: degraded and unhealthy', () => {
  it('is degraded (200) when Postgres and Redis are unreachable, and names them', async () => {
    const stack = await Stack.start({
      remotes: { g: { package: 'generic', base_url: 'http://127.0.0.1:9' } },
      fetchers: 0,
      env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none', REDIS_URL: 'redis://127.0.0.1:9' },
    });
    try {
      const response = await fetch(`${stack.url()}/health`);
      expect(response.status).toBe(200);
      const body: any = await response.json();
      expect(body.status).toBe('degraded');
      expect(body.checks.storage).toBe('ok');
      expect(body.checks.redis).toMatch(/^failing/);
      expect(body.checks.postgres).toMatch(/^failing/);
    } finally {
      await stack.stop();
    }
  });

  it('is unhealthy (503) when storage fails', async () => {
    const stack = await Stack.start({
      remotes: { g: { package: 'generic', base_url: 'http://127.0.0.1:9' } },
      fetchers: 0,
      env: {
        STORAGE_DRIVER: 's3',
        S3_ENDPOINT: 'http://127.0.0.1:9',
        S3_BUCKET: 'nothing-here',
        S3_ACCESS_KEY_ID: 'x',
        S3_SECRET_ACCESS_KEY: 'y',
      },
    });
    try {
      const response = await fetch(`${stack.url()}/health`);
      expect(response.status).toBe(503);
      const body: any = await response.json();
      expect(body.status).toBe('unhealthy');
      expect(body.checks.storage).toMatch(/^failing/);
    } finally {
      await stack.stop();
    }
  });
});

describe('foundation: a bad remotes file stops start-up with one clear message', () => {
  it('names the remote and the field, and opens no port', () => {
    const file = join(process.env.TEST_TMP_DIR!, 'bad-remotes.yaml');
    writeFileSync(
      file,
      [
        'remotes:',
        '  alpine:',
        '    package: alpine',
        '  rpm:',
        '    package: rpm',
        '    base_url: https://mirror.example.org/rpm',
        "    immutable_patterns: ['.*\\.rpm$', '(unclosed']",
        '  weird:',
        '    package: apt',
        '    base_url: https://mirror.example.org/x',
      ].join('\n'),
    );
    const result = spawnSync(process.execPath, [ENTRY], {
      env: { PATH: process.env.PATH, ARTIFACT_CONFIG: file, PORT: '1' },
      encoding: 'utf8',
      // A bound for a hung process, not a measure: on a loaded machine loading the gateway's
      // modules alone has taken over 20 s.
      timeout: 120_000,
    });
    expect({ status: result.status, signal: result.signal }).toEqual({ status: 1, signal: null });
    expect(result.stderr).toContain('remotes.alpine.base_url: required');
    expect(result.stderr).toMatch(/remotes\.rpm\.immutable_patterns\[1\]: invalid regex/);
    expect(result.stderr).toMatch(/remotes\.weird\.package: must be one of/);
  });
});
