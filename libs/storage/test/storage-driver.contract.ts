import { createHash, randomUUID } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isArtifactError } from '@app/common';
import type { ObjectInfo, StorageDriver } from '@app/storage';

const KiB = 1024;
const MiB = 1024 * KiB;
/** tests that move a few multipart-sized bodies (the default 5 s is tight on a busy machine) */
const MULTIPART_TIMEOUT = 30_000;

/**
 * The one behaviour every StorageDriver must have (after distribution's driver testsuites: one
 * suite, every driver). Each test works under its own key prefix, so drivers that share a bucket
 * with other specs can run it; `makeDriver` is called once per suite and closed afterwards.
 */
export interface ContractOptions {
  /**
   * Most live memory (heap + Buffers) the 256 MiB transfer may add. Default 64 MiB: lib-storage
   * keeps up to 4 parts of 8 MiB in flight, each in a 9 MiB buffer, plus the part it is gathering
   * (about 55 MiB at worst). Drivers that stream straight to disk should pass far less.
   */
  streamingMemoryBudget?: number;
}

export function describeStorageDriverContract(
  name: string,
  makeDriver: () => Promise<StorageDriver>,
  options: ContractOptions = {},
): void {
  const memoryBudget = options.streamingMemoryBudget ?? 64 * MiB;
  describe(`StorageDriver contract: ${name}`, () => {
    const runId = randomUUID();
    let driver: StorageDriver;
    let testNumber = 0;
    let prefix: string;

    beforeAll(async () => {
      driver = await makeDriver();
      await driver.check();
    });

    afterAll(async () => {
      if (driver !== undefined) {
        await driver.deletePrefix(`contract/${runId}/`);
        await driver.close();
      }
    });

    beforeEach(() => {
      testNumber++;
      prefix = `contract/${runId}/${testNumber}/`;
    });

    /** nothing under the test's prefix is visible through any read path */
    async function expectNothingVisible(key: string): Promise<void> {
      expect(await driver.head(key)).toBeNull();
      expect(await driver.read(key)).toBeNull();
      expect(await keysUnder(driver, prefix)).toEqual([]);
    }

    async function expectStored(key: string, data: Buffer): Promise<void> {
      const result = await driver.read(key);
      expect(result).not.toBeNull();
      expect(result!.info.size).toBe(data.length);
      expect(result!.info.sha256).toBe(sha256(data));
      expect(await readSmall(result!.body)).toEqual(data);
    }

    describe('write, read, head', () => {
      it('round-trips bytes, size, sha256 and content type', async () => {
        const key = `${prefix}dir/object.bin`;
        const data = pattern(100 * KiB + 7, 1);
        const before = Date.now();
        const result = await driver.write(key, Readable.from(split(data, 3)), {
          contentType: 'application/vnd.test+json',
        });
        expect(result).toEqual({ size: data.length, sha256: sha256(data) });

        const read = await driver.read(key);
        expect(read).not.toBeNull();
        expect(read!.info).toMatchObject({
          key,
          size: data.length,
          sha256: sha256(data),
          contentType: 'application/vnd.test+json',
        });
        // S3 reports Last-Modified in whole seconds
        expect(read!.info.storedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
        expect(read!.info.storedAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
        expect(await readSmall(read!.body)).toEqual(data);
      });

      it('head returns the same info as read, without the bytes', async () => {
        const key = `${prefix}head.txt`;
        const data = Buffer.from('head me');
        await driver.write(key, Readable.from([data]), { contentType: 'text/plain' });
        const info = await driver.head(key);
        const read = await driver.read(key);
        read!.body.destroy();
        expect(info).toEqual(read!.info);
        expect(info).toMatchObject({
          key,
          size: 7,
          sha256: sha256(data),
          contentType: 'text/plain',
        });
      });

      it("keeps an upstream's Last-Modified with the object, with or without a known digest", async () => {
        const lastModified = new Date('2024-05-06T07:08:09.000Z');
        const data = Buffer.from('dated');
        for (const [name, expectedSha256] of [
          ['dated-direct.txt', sha256(data)],
          ['dated-staged.txt', undefined],
        ] as const) {
          const key = `${prefix}${name}`;
          await driver.write(key, Readable.from([data]), { lastModified, expectedSha256 });
          expect((await driver.head(key))?.lastModified).toEqual(lastModified);
          const read = await driver.read(key);
          read!.body.destroy();
          expect(read!.info.lastModified).toEqual(lastModified);
        }
        const undated = `${prefix}undated.txt`;
        await driver.write(undated, Readable.from([data]));
        expect((await driver.head(undated))?.lastModified).toBeUndefined();
      });

      it('stores an empty object', async () => {
        const key = `${prefix}empty`;
        expect(await driver.write(key, Readable.from([]))).toEqual({
          size: 0,
          sha256: sha256(Buffer.alloc(0)),
        });
        await expectStored(key, Buffer.alloc(0));
      });

      it('accepts matching expectations', async () => {
        const key = `${prefix}expected`;
        const data = pattern(10 * KiB, 2);
        const result = await driver.write(key, Readable.from([data]), {
          expectedSize: data.length,
          expectedSha256: sha256(data).toUpperCase(),
        });
        expect(result).toEqual({ size: data.length, sha256: sha256(data) });
        expect((await driver.head(key))?.sha256).toBe(sha256(data));
        await expectStored(key, data);
      });

      it('returns null from head and read for a missing key', async () => {
        expect(await driver.head(`${prefix}missing`)).toBeNull();
        expect(await driver.read(`${prefix}missing`)).toBeNull();
        expect(await driver.read(`${prefix}missing`, { range: { start: 0, end: 0 } })).toBeNull();
      });

      it('treats a prefix of existing keys as missing', async () => {
        await driver.write(`${prefix}parent/child`, Readable.from([Buffer.from('x')]));
        expect(await driver.head(`${prefix}parent`)).toBeNull();
        expect(await driver.read(`${prefix}parent`)).toBeNull();
        expect(await driver.delete(`${prefix}parent`)).toBe(false);
        expect(await driver.head(`${prefix}parent/child`)).not.toBeNull();
      });
    });

    describe('ranged read', () => {
      const data = pattern(1000, 3);

      it.each([
        ['the first byte', 0, 0],
        ['the first bytes', 0, 99],
        ['the middle', 100, 199],
        ['the last byte', 999, 999],
        ['everything', 0, 999],
      ])('reads %s', async (_label, start, end) => {
        const key = `${prefix}ranged`;
        await driver.write(key, Readable.from([data]));
        const result = await driver.read(key, { range: { start, end } });
        expect(result).not.toBeNull();
        // info describes the whole object, not the range
        expect(result!.info.size).toBe(1000);
        expect(result!.info.sha256).toBe(sha256(data));
        expect(await readSmall(result!.body)).toEqual(data.subarray(start, end + 1));
      });
    });

    describe('read abort', () => {
      it('tears the body down when the signal aborts mid-read', async () => {
        const key = `${prefix}abortable`;
        await driver.write(key, generated(8 * MiB, 3));
        const controller = new AbortController();
        const result = await driver.read(key, { signal: controller.signal });
        const iterator = result!.body[Symbol.asyncIterator]();
        await iterator.next();
        controller.abort();
        const error = await rejection(
          (async () => {
            for (;;) {
              const { done } = await iterator.next();
              if (done) {
                return;
              }
            }
          })(),
        );
        expect((error as Error).name).toBe('AbortError');
        expect(result!.body.destroyed).toBe(true);
      });

      it('rejects a read whose signal is already aborted', async () => {
        const key = `${prefix}pre-aborted-read`;
        await driver.write(key, Readable.from([Buffer.from('x')]));
        const controller = new AbortController();
        controller.abort();
        const error = await rejection(driver.read(key, { signal: controller.signal }));
        expect((error as Error).name).toBe('AbortError');
      });

      it('rejects a read whose signal aborts while it opens the object, and nothing fails later', async () => {
        // (a body destroyed before anyone listens would throw its AbortError out of the process)
        const key = `${prefix}aborted-while-opening`;
        await driver.write(key, Readable.from([Buffer.from('x')]));
        const controller = new AbortController();
        const reading = driver.read(key, { signal: controller.signal });
        controller.abort();
        const error = await rejection(reading);
        expect((error as Error).name).toBe('AbortError');
        await new Promise((resolve) => setTimeout(resolve, 50));
      });
    });

    describe('overwrite', () => {
      it('replaces the object: readers see only the new bytes and metadata', async () => {
        const key = `${prefix}overwritten`;
        const v1 = pattern(3 * MiB, 4);
        const v2 = pattern(2 * KiB, 5);
        await driver.write(key, Readable.from(split(v1, 4)), { contentType: 'text/v1' });
        await driver.write(key, Readable.from([v2]), { contentType: 'text/v2' });
        await expectStored(key, v2);
        expect(await driver.head(key)).toMatchObject({
          size: v2.length,
          sha256: sha256(v2),
          contentType: 'text/v2',
        });
        const listed = await listAll(driver, prefix);
        expect(listed.map((info) => info.key)).toEqual([key]);
        expect(listed[0].sha256).toBe(sha256(v2));
      });
    });

    describe('failed writes publish nothing', () => {
      const data = pattern(64 * KiB, 6);
      const previous = pattern(5 * KiB, 7);
      const wrongSha = sha256(Buffer.from('not the data'));

      it.each([
        ['a smaller expectedSize', { expectedSize: data.length - 1 }, /expected 65535 bytes/],
        [
          'a larger expectedSize',
          { expectedSize: data.length + 1 },
          /expected 65537 bytes, got 65536/,
        ],
        [
          'a wrong expectedSha256',
          { expectedSha256: wrongSha },
          new RegExp(`expected ${wrongSha}, got ${sha256(data)}`),
        ],
      ])('rejects %s with upstream_integrity', async (_label, expect_, message) => {
        const key = `${prefix}bad`;
        const error = await rejection(driver.write(key, Readable.from(split(data, 4)), expect_));
        expect(isArtifactError(error, 'upstream_integrity')).toBe(true);
        expect((error as Error).message).toMatch(message);
        await expectNothingVisible(key);
      });

      it.each([
        ['size', { expectedSize: data.length + 1 }],
        ['sha256', { expectedSha256: wrongSha }],
      ])('keeps the previous object when the %s does not match', async (_label, expect_) => {
        const key = `${prefix}kept`;
        await driver.write(key, Readable.from([previous]), { contentType: 'text/previous' });
        const error = await rejection(driver.write(key, Readable.from([data]), expect_));
        expect(isArtifactError(error, 'upstream_integrity')).toBe(true);
        await expectStored(key, previous);
        expect((await driver.head(key))?.contentType).toBe('text/previous');
      });

      it.each([
        ['with a digest', true],
        ['without a digest', false],
      ])(
        'rejects a multipart-sized body %s that does not match, keeping the previous object',
        async (_label, withDigest) => {
          const key = `${prefix}big-bad`;
          await driver.write(key, Readable.from([previous]));
          const size = 20 * MiB;
          const error = await rejection(
            driver.write(
              key,
              generated(size, 11),
              withDigest ? { expectedSha256: wrongSha } : { expectedSize: size + 1 },
            ),
          );
          expect(isArtifactError(error, 'upstream_integrity')).toBe(true);
          await expectStored(key, previous);
          expect(await keysUnder(driver, prefix)).toEqual([key]);
        },
        MULTIPART_TIMEOUT,
      );

      it.each([
        ['a small body', 10 * KiB],
        ['a multipart-sized body', 12 * MiB],
      ])(
        'rejects when the source fails midway through %s',
        async (_label, before) => {
          const key = `${prefix}broken-source`;
          const boom = new Error('upstream connection reset');
          const error = await rejection(driver.write(key, failingAfter(before, boom)));
          expect(error).toBe(boom);
          await expectNothingVisible(key);
        },
        MULTIPART_TIMEOUT,
      );

      it(
        'keeps the previous object when the source fails',
        async () => {
          const key = `${prefix}broken-overwrite`;
          await driver.write(key, Readable.from([previous]));
          const error = await rejection(
            driver.write(key, failingAfter(12 * MiB, new Error('reset'))),
          );
          expect((error as Error).message).toBe('reset');
          await expectStored(key, previous);
        },
        MULTIPART_TIMEOUT,
      );

      it.each([
        ['with a digest', true],
        ['without a digest', false],
      ])(
        'rejects when the signal aborts midway (%s)',
        async (_label, withDigest) => {
          const key = `${prefix}aborted`;
          const controller = new AbortController();
          const source = endless(() => controller.abort(), 12 * MiB);
          const error = await rejection(
            driver.write(key, source, {
              signal: controller.signal,
              expectedSha256: withDigest ? wrongSha : undefined,
            }),
          );
          expect((error as Error).name).toBe('AbortError');
          await expectNothingVisible(key);
        },
        MULTIPART_TIMEOUT,
      );

      it('rejects an already aborted signal and keeps the previous object', async () => {
        const key = `${prefix}pre-aborted`;
        await driver.write(key, Readable.from([previous]));
        const controller = new AbortController();
        controller.abort();
        const error = await rejection(
          driver.write(key, Readable.from([data]), { signal: controller.signal }),
        );
        expect((error as Error).name).toBe('AbortError');
        await expectStored(key, previous);
      });
    });

    describe('delete', () => {
      it('returns true once, then false', async () => {
        const key = `${prefix}to-delete`;
        await driver.write(key, Readable.from([Buffer.from('bye')]));
        expect(await driver.delete(key)).toBe(true);
        expect(await driver.delete(key)).toBe(false);
        await expectNothingVisible(key);
      });

      it('returns false for a key that never existed', async () => {
        expect(await driver.delete(`${prefix}never`)).toBe(false);
      });

      it('lets a deleted directory prefix become a key again', async () => {
        await driver.write(`${prefix}d/e/f`, Readable.from([Buffer.from('f')]));
        expect(await driver.delete(`${prefix}d/e/f`)).toBe(true);
        await driver.write(`${prefix}d/e`, Readable.from([Buffer.from('e')]));
        await expectStored(`${prefix}d/e`, Buffer.from('e'));
      });
    });

    describe('one stored content per digest', () => {
      /** bytes no other test (or run) stores */
      function unique(label: string): Buffer {
        return Buffer.concat([
          Buffer.from(`${runId} ${testNumber} ${label} `),
          pattern(64 * KiB, 3),
        ]);
      }

      it('stores bytes once for every key that has them, and keeps them while one does', async () => {
        const data = unique('shared');
        const digest = sha256(data);
        await driver.write(`${prefix}a`, Readable.from(split(data, 3)));
        await driver.write(`${prefix}b`, Readable.from([data]), { expectedSha256: digest });
        await driver.write(`${prefix}other`, Readable.from([unique('other')]));
        expect(await driver.contentSize(digest)).toBe(data.length);
        expect(await driver.delete(`${prefix}a`)).toBe(true);
        await expectStored(`${prefix}b`, data);
        const ranged = await driver.read(`${prefix}b`, { range: { start: 10, end: 19 } });
        expect(await readSmall(ranged!.body)).toEqual(data.subarray(10, 20));
        expect(await driver.contentSize(digest)).toBe(data.length);
      });

      it('collects a content no key uses any more, once', async () => {
        const data = unique('collected');
        const digest = sha256(data);
        await driver.write(`${prefix}gone`, Readable.from([data]));
        await driver.delete(`${prefix}gone`);
        // A driver may need a second look (s3): the first then only tells the version.
        let result = await driver.collectContent(digest, null);
        if (result.outcome === 'seen') {
          result = await driver.collectContent(digest, result.version);
        }
        expect(result).toEqual({ outcome: 'collected', size: data.length });
        expect(await driver.contentSize(digest)).toBeNull();
        expect(await driver.collectContent(digest, null)).toEqual({ outcome: 'absent' });
      });

      it('keeps a content that a write stored again after the first look', async () => {
        const data = unique('raced');
        const digest = sha256(data);
        await driver.write(`${prefix}first`, Readable.from([data]));
        await driver.delete(`${prefix}first`);
        const first = await driver.collectContent(digest, null);
        // Past the second in which it was stored (S3's Last-Modified has seconds).
        await new Promise((resolve) => setTimeout(resolve, 1100));
        await driver.write(`${prefix}second`, Readable.from([data]));
        const seen = first.outcome === 'seen' ? first.version : null;
        expect(await driver.collectContent(digest, seen)).toEqual({ outcome: 'kept' });
        await expectStored(`${prefix}second`, data);
      });

      it('has nothing to share for a key written by this release, or a missing one', async () => {
        await driver.write(`${prefix}new`, Readable.from([unique('new')]));
        expect(await driver.shareStored(`${prefix}new`)).toBe(false);
        expect(await driver.shareStored(`${prefix}missing`)).toBe(false);
      });
    });

    describe('list and deletePrefix', () => {
      const keys = ['a/x', 'a/y/z', 'a/y/zz', 'a-b/w', 'ab', 'b/a/x'];

      beforeEach(async () => {
        for (const key of keys) {
          await driver.write(`${prefix}${key}`, Readable.from([Buffer.from(key)]), {
            contentType: 'text/plain',
          });
        }
      });

      it.each([
        ['a/', ['a/x', 'a/y/z', 'a/y/zz']],
        ['a/y/', ['a/y/z', 'a/y/zz']],
        ['a/y/z', ['a/y/z', 'a/y/zz']],
        ['a', ['a-b/w', 'a/x', 'a/y/z', 'a/y/zz', 'ab']],
        ['a-', ['a-b/w']],
        ['b/', ['b/a/x']],
        ['', keys],
        ['c/', []],
        ['a/x/', []],
      ])('lists the keys starting with %j', async (sub, expected) => {
        expect(await keysUnder(driver, `${prefix}${sub}`)).toEqual(
          expected.map((key) => `${prefix}${key}`).sort(),
        );
      });

      it('yields full ObjectInfo', async () => {
        const [info] = await listAll(driver, `${prefix}a/x`);
        expect(info).toMatchObject({
          key: `${prefix}a/x`,
          size: 3,
          sha256: sha256(Buffer.from('a/x')),
          contentType: 'text/plain',
        });
        expect(info.storedAt).toBeInstanceOf(Date);
      });

      it('deletes by prefix and counts what it deleted', async () => {
        expect(await driver.deletePrefix(`${prefix}a/`)).toBe(3);
        expect(await keysUnder(driver, prefix)).toEqual(
          ['a-b/w', 'ab', 'b/a/x'].map((key) => `${prefix}${key}`),
        );
        expect(await driver.head(`${prefix}a/x`)).toBeNull();
        expect(await driver.deletePrefix(`${prefix}a/`)).toBe(0);
        expect(await driver.deletePrefix(prefix)).toBe(3);
        expect(await keysUnder(driver, prefix)).toEqual([]);
      });
    });

    describe('sweepLeftovers', () => {
      it('never removes a stored object, whatever the age asked for', async () => {
        const data = pattern(3 * KiB, 9);
        await driver.write(`${prefix}kept`, Readable.from([data]));
        // A cutoff in the future makes every leftover "old": stored objects must still stay.
        await driver.sweepLeftovers(new Date(Date.now() + 60_000));
        await expectStored(`${prefix}kept`, data);
      });

      it('a write running while the sweep runs still publishes', async () => {
        const data = pattern(2 * MiB, 10);
        const source = Readable.from(split(data, 16));
        const writing = driver.write(`${prefix}during`, source);
        await driver.sweepLeftovers(new Date(Date.now() - 60_000));
        await writing;
        await expectStored(`${prefix}during`, data);
      });
    });

    describe('invalid keys', () => {
      const bad = ['../escape', 'a/../../escape', '/absolute', 'a\\b', 'a\0b', '', 'a//b', 'a/'];

      it.each(bad)('rejects %j on every operation with bad_path', async (key) => {
        const operations: Array<[string, () => Promise<unknown>]> = [
          ['head', () => driver.head(key)],
          ['read', () => driver.read(key)],
          ['write', () => driver.write(key, Readable.from([Buffer.from('x')]))],
          ['delete', () => driver.delete(key)],
        ];
        for (const [operation, run] of operations) {
          const error = await rejection(run());
          expect([operation, isArtifactError(error, 'bad_path')]).toEqual([operation, true]);
        }
      });

      it.each(['/', '../', 'a/../', 'a\\', '/a'])('rejects the prefix %j', async (bad) => {
        expect(isArtifactError(await rejection(listAll(driver, bad)), 'bad_path')).toBe(true);
        expect(isArtifactError(await rejection(driver.deletePrefix(bad)), 'bad_path')).toBe(true);
      });
    });

    describe('large objects', () => {
      it('streams 256 MiB in and out without holding it in memory', async () => {
        const key = `${prefix}large.bin`;
        const size = 256 * MiB;
        const expectedSha = await largeSha256(size);
        const memory = startMemoryProbe();
        try {
          const result = await driver.write(key, generated(size, 42).pipe(sampling(memory)), {
            expectedSize: size,
            expectedSha256: expectedSha,
          });
          expect(result).toEqual({ size, sha256: expectedSha });

          const read = await driver.read(key);
          expect(read?.info).toMatchObject({ size, sha256: expectedSha });
          const hash = createHash('sha256');
          let bytes = 0;
          await pipeline(
            read!.body,
            sampling(memory),
            new Writable({
              write(chunk: Buffer, _encoding, callback) {
                hash.update(chunk);
                bytes += chunk.length;
                callback();
              },
            }),
          );
          expect(bytes).toBe(size);
          expect(hash.digest('hex')).toBe(expectedSha);
        } finally {
          // holding the object would need 256 MiB
          expect(memory.stop()).toBeLessThan(memoryBudget);
        }
        expect(await driver.delete(key)).toBe(true);
      }, 120_000);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// helpers

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** n deterministic, seed-dependent bytes (small test objects only) */
export function pattern(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function split(data: Buffer, parts: number): Buffer[] {
  const size = Math.ceil(data.length / parts);
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) {
    out.push(data.subarray(i, i + size));
  }
  return out;
}

const baseChunks = new Map<number, Buffer>();

/**
 * `size` deterministic bytes produced lazily in 1 MiB chunks (each stamped with its index), so a
 * large object never exists in memory as a whole.
 */
export function generated(size: number, seed: number): Readable {
  let base = baseChunks.get(seed);
  if (base === undefined) {
    base = pattern(MiB, seed);
    baseChunks.set(seed, base);
  }
  const template = base;
  let produced = 0;
  let index = 0;
  return new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(MiB, size - produced);
      const chunk = Buffer.allocUnsafe(length);
      template.copy(chunk, 0, 0, length);
      if (length >= 4) {
        chunk.writeUInt32BE(index, 0);
      }
      index++;
      produced += length;
      this.push(chunk);
    },
  });
}

const largeShas = new Map<number, Promise<string>>();

function largeSha256(size: number): Promise<string> {
  let sha = largeShas.get(size);
  if (sha === undefined) {
    const hash = createHash('sha256');
    sha = pipeline(
      generated(size, 42),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback();
        },
      }),
    ).then(() => hash.digest('hex'));
    largeShas.set(size, sha);
  }
  return sha;
}

/** produces `before` bytes in 64 KiB chunks, then fails with `error` */
function failingAfter(before: number, error: Error): Readable {
  let produced = 0;
  const chunk = pattern(64 * KiB, 9);
  return new Readable({
    read() {
      if (produced >= before) {
        this.destroy(error);
        return;
      }
      produced += chunk.length;
      this.push(Buffer.from(chunk));
    },
  });
}

/** never ends; calls `trigger` once `after` bytes were produced */
function endless(trigger: () => void, after: number): Readable {
  let produced = 0;
  let triggered = false;
  const chunk = pattern(64 * KiB, 10);
  return new Readable({
    read() {
      produced += chunk.length;
      if (!triggered && produced >= after) {
        triggered = true;
        setImmediate(trigger);
      }
      this.push(Buffer.from(chunk));
    },
  });
}

async function readSmall(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function listAll(driver: StorageDriver, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of driver.list(prefix)) {
    out.push(info);
  }
  return out;
}

async function keysUnder(driver: StorageDriver, prefix: string): Promise<string[]> {
  return (await listAll(driver, prefix)).map((info) => info.key).sort();
}

/** the rejection reason; fails the test when the promise resolves */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the operation to reject, but it resolved');
}

/**
 * Samples live memory (heap + ArrayBuffers, i.e. Buffers) during a transfer. It forces a GC before
 * each sample: without it the numbers measure how lazily V8 collects dead Buffers (it lets ~64 MiB
 * of external garbage pile up first), not how much the code holds. Twice, because V8 frees dead
 * ArrayBuffers on a concurrent sweeper after a GC; the next GC waits for that sweep to finish.
 *
 * Samples are taken as the bytes pass (`sampling`), not on a clock. Full GCs are slow on Jest's
 * large heap, the more so in a worker that ran other suites first (two took 2.5 s on a 790 MiB
 * heap here): a sample every 250 ms then left the transfer next to no time, so the 256 MiB test
 * ran past its 120 s in full runs (alone: 7 s) and, still sampling after that timeout, slowed
 * every test after it. Per byte, the cost is the same number of samples at any speed.
 */
function startMemoryProbe(): { sample: () => void; stop: () => number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = (): number => {
    gc();
    gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  const baseline = used();
  let max = 0;
  return {
    sample: () => {
      max = Math.max(max, used() - baseline);
    },
    stop: () => max,
  };
}

/** Passes a stream through, sampling the probe each time another 32 MiB went by. */
function sampling(probe: { sample: () => void }): Transform {
  const every = 32 * MiB;
  let passed = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const before = Math.floor(passed / every);
      passed += chunk.length;
      if (Math.floor(passed / every) > before) {
        probe.sample();
      }
      callback(null, chunk);
    },
  });
}
