/**
 * Jest globalSetup for the `e2e` project: one real Redis, one Postgres and one S3 server
 * (s3rver, in its own process) per run, on free loopback ports under a fresh temp dir. Workers
 * inherit the TEST_* variables set here; test/global-teardown.ts stops everything.
 * Installing missing packages is scripts/test.sh's job (scripts/ensure-deps.sh --for test).
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startPostgres, startRedis, startS3Server, type Service } from '../tools/services';

const TEST_DATABASE = 'artifactcache_test';
const TEST_BUCKET = 'artifactcache-test';

export interface E2eServices {
  tmpDir: string;
  handles: Service[];
}

const STATE_KEY = '__artifactcacheE2eServices';

export function e2eState(): E2eServices | undefined {
  return (globalThis as Record<string, unknown>)[STATE_KEY] as E2eServices | undefined;
}

function setState(state: E2eServices | undefined): void {
  (globalThis as Record<string, unknown>)[STATE_KEY] = state;
}

export default async function globalSetup(): Promise<void> {
  const began = Date.now();
  const tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'artifactcache-test-'));
  // mkdtemp makes it 0700; as root, Postgres runs as `postgres` and must be able to enter it.
  await fsp.chmod(tmpDir, 0o755);
  const state: E2eServices = { tmpDir, handles: [] };
  setState(state);

  const [redis, postgres, s3] = await Promise.allSettled([
    startRedis({ dataDir: path.join(tmpDir, 'redis') }),
    startPostgres({ dataDir: path.join(tmpDir, 'postgres'), database: TEST_DATABASE }),
    startS3Server({ dataDir: path.join(tmpDir, 's3'), bucket: TEST_BUCKET }),
  ]);
  for (const result of [redis, postgres, s3]) {
    if (result.status === 'fulfilled') {
      state.handles.push(result.value);
    }
  }
  if (redis.status === 'rejected' || postgres.status === 'rejected' || s3.status === 'rejected') {
    await Promise.allSettled(state.handles.map((h) => h.stop()));
    setState(undefined);
    const reasons = [redis, postgres, s3].flatMap((r) =>
      r.status === 'rejected'
        ? [r.reason instanceof Error ? r.reason.message : String(r.reason)]
        : [],
    );
    // The temp dir is kept on purpose: the failing service's log is in there.
    throw new Error(
      `e2e global setup failed (service logs kept in ${tmpDir}):\n${reasons.join('\n\n')}`,
    );
  }
  const r = redis.value;
  const p = postgres.value;
  const s = s3.value;

  Object.assign(process.env, {
    TEST_REDIS_URL: r.url,
    TEST_DATABASE_URL: p.url,
    TEST_S3_ENDPOINT: s.endpoint,
    TEST_S3_BUCKET: s.bucket,
    TEST_S3_ACCESS_KEY_ID: s.accessKeyId,
    TEST_S3_SECRET_ACCESS_KEY: s.secretAccessKey,
    TEST_TMP_DIR: tmpDir,
  });
  process.stdout.write(
    `\ne2e services up in ${((Date.now() - began) / 1000).toFixed(1)} s: redis ${r.url}, ` +
      `postgres ${p.url}, s3 ${s.endpoint}/${s.bucket}, tmp ${tmpDir}\n`,
  );
}
