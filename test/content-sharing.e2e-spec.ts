import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Stack } from './helpers/stack';
import { UpstreamServer, generatedSlice } from './helpers/upstream-server';
import { request } from './helpers/http';
import { metricValue } from './helpers/prometheus-text';

const MiB = 1024 * 1024;
const TOKEN = 'content-sharing-token';
const admin = { authorization: `Bearer ${TOKEN}` };
/** seconds a content no file names stays (storage.gc_grace) */
const GRACE = 2;

interface PassReport {
  objects: number;
  shared: number;
  collected: { contents: number; bytes: number };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * One stored copy per content (docs/STORAGE.md) on a real stack, fs and s3: the same bytes
 * through two remotes and a hosted upload are stored once, kept while any file names them,
 * collected in a pass once none has for gc_grace, and objects of an older release converted in
 * place. "Stored" is counted the way the disk or the bucket counts it.
 */
describe.each([['fs'], ['s3']] as const)('one stored copy per content (%s storage)', (storage) => {
  const upstream = new UpstreamServer();
  const same = generatedSlice(100, MiB);
  const older = generatedSlice(200_000, MiB);
  const again = generatedSlice(300_000, 256 * 1024);
  let stack: Stack;

  const get = (remote: string, path: string) =>
    request(`${stack.url()}/api/v1/remote/${remote}/${path}`);
  const purge = async (remote: string, path: string): Promise<void> => {
    const response = await request(`${stack.url()}/cache/${remote}/${path}`, {
      method: 'DELETE',
      headers: admin,
    });
    expect(response.status).toBe(200);
  };
  const pass = async (): Promise<PassReport> => {
    const response = await request(`${stack.url()}/admin/api/evict`, {
      method: 'POST',
      headers: admin,
    });
    expect(response.status).toBe(200);
    return JSON.parse(response.body.toString()) as PassReport;
  };
  const metric = async (name: string): Promise<number> => {
    return metricValue((await request(`${stack.url()}/metrics`)).body.toString(), name);
  };
  const expectServed = async (remote: string, path: string, data: Buffer, source: string) => {
    const response = await get(remote, path);
    expect(response.status).toBe(200);
    expect(response.headers['x-artifact-source']).toBe(source);
    expect(sha256(response.body)).toBe(sha256(data));
  };
  const graceOver = () => new Promise((resolve) => setTimeout(resolve, GRACE * 1000 + 1200));
  /** Passes a grace period apart until one collects (s3 looks twice: the first reads a version). */
  const collectedByPasses = async (): Promise<PassReport['collected']> => {
    for (let look = 0; look < 2; look += 1) {
      await graceOver();
      const { collected } = await pass();
      if (collected.contents > 0) {
        return collected;
      }
    }
    return { contents: 0, bytes: 0 };
  };

  beforeAll(async () => {
    await upstream.start();
    for (const root of ['one', 'two']) {
      upstream.set(`${root}/same.bin`, { body: same });
      upstream.set(`${root}/older.bin`, { body: older });
    }
    upstream.set('one/again.bin', { body: again });
    stack = await Stack.start({
      remotes: {
        one: { package: 'generic', base_url: `${upstream.url}/one` },
        two: { package: 'generic', base_url: `${upstream.url}/two` },
        hosted: { package: 'local' },
      },
      storage_limits: { evict_interval: 3600, gc_grace: GRACE },
      storage,
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('stores a file once through two remotes and an upload, and collects it only after the last goes', async () => {
    await expectServed('one', 'same.bin', same, 'remote');
    await expectServed('two', 'same.bin', same, 'remote');
    const upload = await request(`${stack.url()}/api/v1/remote/hosted/same.bin`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/octet-stream' },
      body: same,
    });
    expect(upload.status).toBe(201);
    await stack.recordsWritten('one', 1);
    await stack.recordsWritten('two', 1);
    expect(await stack.storedBytes()).toBe(MiB);
    await pass();
    expect(await metric('artifactcache_dedup_saved_bytes')).toBeGreaterThanOrEqual(MiB);

    // Each file that goes leaves the bytes to the others.
    await purge('one', 'same.bin');
    await expectServed('two', 'same.bin', same, 'cache');
    await graceOver();
    expect((await pass()).collected.contents).toBe(0);
    expect(await stack.storedBytes()).toBe(MiB);
    await purge('two', 'same.bin');
    const removed = await request(`${stack.url()}/api/v1/remote/hosted/same.bin`, {
      method: 'DELETE',
      headers: admin,
    });
    expect(removed.status).toBe(204);

    // Unreferenced, but not for the grace period yet: still stored.
    expect((await pass()).collected).toEqual({ contents: 0, bytes: 0 });
    expect(await stack.storedBytes()).toBe(MiB);
    expect(await collectedByPasses()).toEqual({ contents: 1, bytes: MiB });
    expect(await stack.storedBytes()).toBe(0);
    expect(await metric('artifactcache_collected_bytes_total')).toBe(MiB);

    await expectServed('one', 'same.bin', same, 'remote');
    expect(await stack.storedBytes()).toBe(MiB);
  });

  it('keeps the content of a file fetched again while it waited for collection', async () => {
    const base = await stack.storedBytes();
    await expectServed('one', 'again.bin', again, 'remote');
    await stack.recordsWritten('one', 2);
    await purge('one', 'again.bin');
    await graceOver();
    await expectServed('one', 'again.bin', again, 'remote');
    await stack.recordsWritten('one', 2);
    expect((await pass()).collected.contents).toBe(0);
    expect((await pass()).collected.contents).toBe(0);
    await expectServed('one', 'again.bin', again, 'cache');
    expect(await stack.storedBytes()).toBe(base + again.length);
  });

  it('converts the objects of an older release in place: served throughout, then stored once', async () => {
    const base = await stack.storedBytes();
    await expectServed('one', 'older.bin', older, 'remote');
    await makeOwnCopy('one/older.bin', older);
    await expectServed('two', 'older.bin', older, 'remote');
    await makeOwnCopy('two/older.bin', older);
    await stack.recordsWritten('one', 3);
    await stack.recordsWritten('two', 1);
    await stack.query(
      `UPDATE cached_artifacts SET content_shared = false WHERE path = 'older.bin'`,
    );
    expect(await stack.storedBytes()).toBe(base + 2 * MiB);
    await expectServed('one', 'older.bin', older, 'cache');

    expect((await pass()).shared).toBe(2);
    expect(await stack.storedBytes()).toBe(base + MiB);
    await expectServed('one', 'older.bin', older, 'cache');
    await expectServed('two', 'older.bin', older, 'cache');
    const left = await stack.query<{ n: string }>(
      `SELECT count(*) AS n FROM cached_artifacts WHERE NOT content_shared`,
    );
    expect(Number(left[0].n)).toBe(0);
    expect((await pass()).shared).toBe(0);
  });

  /** Turns a stored key into what an older release left: bytes of its own, no shared content. */
  async function makeOwnCopy(key: string, data: Buffer): Promise<void> {
    const digest = sha256(data);
    if (stack.bucket === null) {
      await unlink(join(stack.storagePath, 'content', digest.slice(0, 2), digest));
      return;
    }
    const { bucket } = stack;
    const client = new S3Client({
      endpoint: bucket.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: bucket.accessKeyId, secretAccessKey: bucket.secretAccessKey },
    });
    try {
      const pointer = await client.send(new HeadObjectCommand({ Bucket: bucket.bucket, Key: key }));
      await client.send(
        new PutObjectCommand({
          Bucket: bucket.bucket,
          Key: key,
          Body: data,
          ContentType: pointer.ContentType,
          Metadata: { sha256: digest },
        }),
      );
      await client.send(
        new DeleteObjectCommand({ Bucket: bucket.bucket, Key: `.staging-content/${digest}` }),
      );
    } finally {
      client.destroy();
    }
  }
});
