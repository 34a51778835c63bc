/**
 * Jest globalSetup of the `e2e` project: one real Redis, Postgres and S3 server (s3rver) per run,
 * on free loopback ports under a fresh temp dir; workers inherit the TEST_* variables set here,
 * and the teardown it registers stops them. Installing what is missing is scripts/test.sh's job.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Service, startServices } from '../tools/services';

// On globalThis: jest may load the teardown's copy of this module afresh, but in the same process.
const started = ((
  globalThis as { e2eServices?: { tmpDir?: string; services: Service[] } }
).e2eServices ??= { services: [] });

export default async function globalSetup(): Promise<void> {
  const began = Date.now();
  const tmpDir = await mkdtemp(join(tmpdir(), 'artifactcache-test-'));
  // mkdtemp makes it 0700; as root, Postgres runs as `postgres` and must be able to enter it.
  await chmod(tmpDir, 0o755);
  const { redis, postgres, s3 } = await startServices(tmpDir, {
    database: 'artifactcache_test',
    bucket: 'artifactcache-test',
  }).catch((error: Error) => {
    // The temp dir stays: the failing service's log is in there.
    throw new Error(`e2e global setup failed (logs in ${tmpDir}):\n${error.message}`);
  });
  started.services = [redis, postgres, s3];
  started.tmpDir = tmpDir;
  Object.assign(process.env, {
    TEST_REDIS_URL: redis.url,
    TEST_DATABASE_URL: postgres.url,
    TEST_S3_ENDPOINT: s3.endpoint,
    TEST_S3_BUCKET: s3.bucket,
    TEST_S3_ACCESS_KEY_ID: s3.accessKeyId,
    TEST_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    TEST_TMP_DIR: tmpDir,
  });
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  process.stdout.write(
    `\ne2e services up in ${seconds} s: ${redis.url} ${postgres.url} ${s3.endpoint}, tmp ${tmpDir}\n`,
  );
}

export async function stopServices(): Promise<void> {
  await Promise.all(started.services.map((service) => service.stop()));
  if (started.tmpDir) {
    await rm(started.tmpDir, { recursive: true, force: true });
  }
}
