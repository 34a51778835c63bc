import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';

/**
 * Slices of the run's shared Redis, Postgres and S3 server (test/global-setup.ts) for one stack,
 * so specs running in parallel never see each other's jobs, rows or objects.
 */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run e2e specs through jest's e2e project (npm test)`);
  }
  return value;
}

/** A new directory of its own under the run's temp dir, in `<kind>/`: fixtures, clients' state. */
export async function scratchDir(kind: string): Promise<string> {
  const parent = join(requireEnv('TEST_TMP_DIR'), kind);
  await mkdir(parent, { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(parent, `${process.pid}-`));
  // mkdtemp makes it 0700; as root, Postgres and nginx's workers run as other users.
  await chmod(dir, 0o755);
  return dir;
}

/** A Redis database index of its own (from a counter shared by every worker), flushed. */
export async function allocateRedisDatabase(): Promise<string> {
  const base = requireEnv('TEST_REDIS_URL');
  const admin = new Redis(base, { maxRetriesPerRequest: 1 });
  try {
    const databases = Number(((await admin.config('GET', 'databases')) as string[])[1]);
    const index = 1 + ((await admin.incr('test:next-database')) % (databases - 1));
    const url = `${base}/${index}`;
    const db = new Redis(url, { maxRetriesPerRequest: 1 });
    await db.flushdb();
    db.disconnect();
    return url;
  } finally {
    admin.disconnect();
  }
}

/** A new Postgres database; returns its URL. */
export async function createDatabase(name: string): Promise<string> {
  const base = new URL(requireEnv('TEST_DATABASE_URL'));
  const client = new Client({ connectionString: base.href });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  base.pathname = `/${name}`;
  return base.href;
}

export interface TestBucket {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A new bucket on the run's S3 server. */
export async function createBucket(name: string): Promise<TestBucket> {
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const bucket: TestBucket = {
    endpoint: requireEnv('TEST_S3_ENDPOINT'),
    bucket: name,
    accessKeyId: requireEnv('TEST_S3_ACCESS_KEY_ID'),
    secretAccessKey: requireEnv('TEST_S3_SECRET_ACCESS_KEY'),
  };
  const client = new S3Client({
    endpoint: bucket.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: bucket.accessKeyId, secretAccessKey: bucket.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: name }));
  client.destroy();
  return bucket;
}
