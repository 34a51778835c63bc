import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import type { S3Settings } from '../../tools/apps';

/**
 * Slices of the run's Redis, Postgres and S3 server (test/global-setup.ts) for one stack, so
 * that specs running in parallel never see each other's jobs, rows or objects.
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
    const url = `${base}/${1 + ((await admin.incr('test:next-database')) % (databases - 1))}`;
    const db = new Redis(url, { maxRetriesPerRequest: 1 });
    await db.flushdb();
    db.disconnect();
    return url;
  } finally {
    admin.disconnect();
  }
}

/** A new Postgres database; its URL. */
export async function createDatabase(name: string): Promise<string> {
  const url = new URL(requireEnv('TEST_DATABASE_URL'));
  const client = new Client({ connectionString: url.href });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`).finally(() => client.end());
  url.pathname = `/${name}`;
  return url.href;
}

/** A client of the run's S3 server (destroy it); the SDK is loaded only by specs that use it. */
export async function s3Client(): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  return new S3Client({
    endpoint: requireEnv('TEST_S3_ENDPOINT'),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: {
      accessKeyId: requireEnv('TEST_S3_ACCESS_KEY_ID'),
      secretAccessKey: requireEnv('TEST_S3_SECRET_ACCESS_KEY'),
    },
  });
}

/** A new bucket on the run's S3 server. */
export async function createBucket(name: string): Promise<S3Settings> {
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const client = await s3Client();
  await client.send(new CreateBucketCommand({ Bucket: name })).finally(() => client.destroy());
  return {
    endpoint: requireEnv('TEST_S3_ENDPOINT'),
    bucket: name,
    accessKeyId: requireEnv('TEST_S3_ACCESS_KEY_ID'),
    secretAccessKey: requireEnv('TEST_S3_SECRET_ACCESS_KEY'),
  };
}

/** One query on the database at `url`. */
export async function pgQuery<T = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}
