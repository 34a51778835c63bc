/**
 * Jest globalSetup of the `e2e` project: one real Redis, Postgres and S3 server (s3rver) per run,
 * on free loopback ports under a fresh temp dir; workers inherit the TEST_* variables set here,
 * and the teardown it registers stops them. Installing what is missing is scripts/test.sh's job.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, startRedis, startS3Server, type Service } from '../tools/services';

// On globalThis: jest may load the teardown's copy of this module afresh, but in the same process.
const started = ((
  globalThis as { e2eServices?: { tmpDir?: string; services: Service[] } }
).e2eServices ??= { services: [] });

export default async function globalSetup(): Promise<void> {
  const began = Date.now();
  const tmpDir = await mkdtemp(join(tmpdir(), 'artifactcache-test-'));
  // mkdtemp makes it 0700; as root, Postgres runs as `postgres` and must be able to enter it.
  await chmod(tmpDir, 0o755);
  const [redis, postgres, s3] = await Promise.allSettled([
    startRedis({ dataDir: join(tmpDir, 'redis') }),
    startPostgres({ dataDir: join(tmpDir, 'postgres'), database: 'artifactcache_test' }),
    startS3Server({ dataDir: join(tmpDir, 's3'), bucket: 'artifactcache-test' }),
  ]);
  const results = [redis, postgres, s3];
  started.services = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (redis.status === 'rejected' || postgres.status === 'rejected' || s3.status === 'rejected') {
    await Promise.allSettled(started.services.map((service) => service.stop()));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    // The temp dir stays: the failing service's log is in there.
    throw new Error(`e2e global setup failed (logs in ${tmpDir}):\n${failed.join('\n\n')}`);
  }
  started.tmpDir = tmpDir;
  const s = s3.value;
  Object.assign(process.env, {
    TEST_REDIS_URL: redis.value.url,
    TEST_DATABASE_URL: postgres.value.url,
    TEST_S3_ENDPOINT: s.endpoint,
    TEST_S3_BUCKET: s.bucket,
    TEST_S3_ACCESS_KEY_ID: s.accessKeyId,
    TEST_S3_SECRET_ACCESS_KEY: s.secretAccessKey,
    TEST_TMP_DIR: tmpDir,
  });
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  process.stdout.write(
    `\ne2e services up in ${seconds} s: ${redis.value.url} ${postgres.value.url} ${s.endpoint}, tmp ${tmpDir}\n`,
  );
}

export async function stopServices(): Promise<void> {
  await Promise.all(started.services.map((service) => service.stop()));
  if (started.tmpDir) {
    await rm(started.tmpDir, { recursive: true, force: true });
  }
}
