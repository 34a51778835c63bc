import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { type S3Service, startS3Server } from '../../tools/services';
import { Stack } from '../helpers/stack';
import { UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import {
  type Answer,
  FaultBook,
  ask,
  expectBroken,
  expectRightOrBroken,
  expectServed,
  msSince,
} from './fault-book';
import { FETCH_ATTEMPTS, Freezer, QueueProbe, faultDir } from './fault-services';

const MiB = 1024 * 1024;
const FAST_MS = 10_000;
/**
 * A hit whose S3 read stops must break within this (the driver's body stall guard, 10 s). A miss
 * whose publish stops must end within the gateway's silence bound for an in-flight stream
 * (upstream_timeout 2 s + 30 s): with the right bytes when the write fails first (2 attempts of
 * 15 s without progress), or broken at the held-back last byte.
 */
const S3_BOUND_MS = 30_000;
const PUBLISH_BOUND_MS = 45_000;

interface StoredObject {
  key: string;
  size: number;
  /** x-amz-meta-sha256: what the driver vouches for */
  claimed: string | undefined;
  /** what the bytes hash to */
  actual: string;
}

/**
 * S3 faults on an s3rver of this spec's own: the server SIGSTOPped while a miss uploads, and
 * while a hit is being read. Clients get the right bytes or a visibly broken transfer within a
 * bound, nothing partial is ever published, and once the server is back everything works.
 */
describe('faults: S3 storage', () => {
  const book = new FaultBook(__filename);
  const upstream = new UpstreamServer();
  const freezer = new Freezer();
  let s3: S3Service;
  let client: S3Client;
  let stack: Stack;
  const queue = new QueueProbe(() => stack.redisUrl);
  const url = (path: string) => `${stack.url()}/api/v1/remote/files/${path}`;

  beforeAll(async () => {
    s3 = await startS3Server({ dataDir: join(await faultDir('s3'), 's3'), bucket: 'faults' });
    client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files`, upstream_timeout: 2 },
      },
      env: {
        STORAGE_DRIVER: 's3',
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: s3.bucket,
        S3_REGION: 'us-east-1',
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        S3_FORCE_PATH_STYLE: 'true',
      },
    });
  });

  afterAll(async () => {
    await queue.close();
    freezer.release();
    await stack?.stop();
    client?.destroy();
    await s3?.stop();
    await upstream.stop();
    book.print();
  });

  /** Every object in the bucket outside the driver's staging area, hashed. */
  async function published(): Promise<StoredObject[]> {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    const out: StoredObject[] = [];
    for (const entry of listed.Contents ?? []) {
      const key = entry.Key ?? '';
      if (key.startsWith('.staging/')) {
        continue;
      }
      const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      // A key is a pointer naming its content (docs/STORAGE.md): its bytes are the content's.
      const claimed = object.Metadata?.sha256;
      const pointer = object.Metadata?.['content-size'] !== undefined;
      if (pointer) {
        (object.Body as Readable).resume();
      }
      const body = !pointer
        ? object.Body
        : (
            await client.send(
              new GetObjectCommand({ Bucket: s3.bucket, Key: `.staging-content/${claimed}` }),
            )
          ).Body;
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of body as Readable) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      out.push({ key, size, claimed, actual: hash.digest('hex') });
    }
    return out;
  }

  /** Stops s3rver once the client has `at` bytes; continues it when the answer has ended. */
  async function askStoppingAt(
    path: string,
    at: number,
  ): Promise<{ answer: Answer; since: number }> {
    let since = 0;
    try {
      const answer = await ask(url(path), {
        withinMs: PUBLISH_BOUND_MS + 15_000,
        onData: (received) => {
          if (since === 0 && received >= at) {
            freezer.stop([s3.pid]);
            since = performance.now();
          }
        },
      });
      return { answer, since };
    } finally {
      freezer.cont([s3.pid]);
    }
  }

  it('stopped mid-upload of a miss: right bytes or a broken transfer within a bound, nothing partial published, then right bytes', async () => {
    await book.together(async () => {
      const size = 12 * MiB;
      const sha256 = generatedSha256(size);
      upstream.set('files/upload.bin', { size, rate: 4 * MiB });
      const { answer, since } = await askStoppingAt('upload.bin', 2 * MiB);
      book.check(
        {
          case: 'miss uploading',
          fault: 's3rver SIGSTOP',
          must: 'right bytes or broken, within 45 s',
          since,
        },
        answer,
        () => {
          expect(since).toBeGreaterThan(0);
          expectRightOrBroken(answer, sha256, size);
          expect(msSince(answer, since)).toBeLessThan(PUBLISH_BOUND_MS);
        },
      );
      await queue.settle('files', 'upload.bin', 120_000);
      for (const object of await published()) {
        // Whatever is published is whole and is what its metadata says.
        expect(object.claimed).toBe(object.actual);
        if (object.key.endsWith('upload.bin')) {
          expect({ size: object.size, sha256: object.actual }).toEqual({ size, sha256 });
        }
      }
      const fetches = upstream.count('files/upload.bin');
      expect(fetches).toBeGreaterThanOrEqual(1);
      expect(fetches).toBeLessThanOrEqual(FETCH_ATTEMPTS);

      const next = await ask(url('upload.bin'), { withinMs: FAST_MS * 3 });
      const hit = next.headers['x-artifact-source'] === 'cache';
      book.check(
        {
          case: 'next request',
          fault: 'after SIGCONT',
          must: `right bytes (${hit ? 'a hit' : 'a fresh fetch'}); GETs ${fetches} + ${hit ? 0 : 1}`,
        },
        next,
        () => {
          expectServed(next, sha256, size);
          expect(upstream.count('files/upload.bin')).toBe(hit ? fetches : fetches + 1);
        },
      );
    });
  });

  it('a client that leaves while S3 is stopped before its hit is read: the gateway stays up and serves the next', async () => {
    const size = 8 * MiB;
    const sha256 = generatedSha256(size);
    upstream.set('files/left.bin', { size });
    expectServed(await ask(url('left.bin'), { withinMs: FAST_MS * 3 }), sha256, size);
    expect(
      (await ask(url('left.bin'), { withinMs: FAST_MS * 3 })).headers['x-artifact-source'],
    ).toBe('cache');
    freezer.stop([s3.pid]);
    try {
      // Too large for the memory tier: the hit waits for the stopped S3 server, and the client
      // gives up before it answers.
      await new Promise<void>((resolve) => {
        const request = get(url('left.bin'), () => undefined);
        request.on('error', () => resolve());
        setTimeout(() => {
          request.destroy();
          resolve();
        }, 300);
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      freezer.cont([s3.pid]);
    }
    // The storage read completes for a client that is gone: nothing to write to, no crash.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const after = await ask(url('left.bin'), { withinMs: FAST_MS * 3 });
    expectServed(after, sha256, size);
    expect(after.headers['x-artifact-source']).toBe('cache');
  });

  it('stopped mid-read of a cached file: the transfer breaks within the S3 request timeout; after SIGCONT hits work', async () => {
    await book.together(async () => {
      const size = 64 * MiB;
      const sha256 = generatedSha256(size);
      upstream.set('files/read.bin', { size });
      expectServed(await ask(url('read.bin'), { withinMs: FAST_MS * 3 }), sha256, size);
      const cached = await ask(url('read.bin'), { withinMs: FAST_MS * 3 });
      expectServed(cached, sha256, size);
      expect(cached.headers['x-artifact-source']).toBe('cache');

      const { answer, since } = await askStoppingAt('read.bin', 1 * MiB);
      book.check(
        {
          case: 'hit reading',
          fault: 's3rver SIGSTOP',
          must: 'broken transfer within 30 s',
          since,
        },
        answer,
        () => {
          expect(since).toBeGreaterThan(0);
          expectBroken(answer, size);
          expect(msSince(answer, since)).toBeLessThan(S3_BOUND_MS);
        },
      );
      const after = await ask(url('read.bin'), { withinMs: FAST_MS * 3 });
      book.check(
        { case: 'hit', fault: 'after SIGCONT', must: '200 from cache, right sha256, 1 GET' },
        after,
        () => {
          expectServed(after, sha256, size);
          expect(after.headers['x-artifact-source']).toBe('cache');
          expect(upstream.count('files/read.bin')).toBe(1);
        },
      );
    });
  });
});
