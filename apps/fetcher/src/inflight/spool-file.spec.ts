import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SpoolFile, remainderAfter } from './spool-file';

const buffers = (...parts: string[]): Buffer[] => parts.map((part) => Buffer.from(part));
const text = (parts: Buffer[]): string[] => parts.map((part) => part.toString());

describe('remainderAfter (what a short writev left to write)', () => {
  it.each([
    { parts: ['abc', 'de'], written: 0, rest: ['abc', 'de'] },
    { parts: ['abc', 'de'], written: 1, rest: ['bc', 'de'] },
    { parts: ['abc', 'de'], written: 3, rest: ['de'] },
    { parts: ['abc', 'de'], written: 4, rest: ['e'] },
    { parts: ['abc', 'de'], written: 5, rest: [] },
    { parts: ['', 'ab'], written: 1, rest: ['b'] },
  ])('$parts after $written bytes: $rest', ({ parts, written, rest }) => {
    expect(text(remainderAfter(buffers(...parts), written))).toEqual(rest);
  });
});

/** Pseudo-random bytes, so that a chunk written twice or out of order shows. */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let state = seed;
  for (let i = 0; i < length; i += 1) {
    state = (state * 1103515245 + 12345) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** Collects what is written to it; each write's callback runs after `delayMs` (a slow socket). */
class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(private readonly delayMs = 0) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    // A copy: the sender reuses its buffers once the callback ran.
    this.chunks.push(Buffer.from(chunk));
    setTimeout(callback, this.delayMs);
  }
  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

describe('SpoolFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spool-spec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    {
      name: 'many small chunks',
      sizes: Array.from({ length: 500 }, (_, i) => 1 + ((i * 7919) % 9000)),
    },
    { name: 'chunks larger than its buffers', sizes: [3 * 1024 * 1024 + 17, 5, 2 * 1024 * 1024] },
    { name: 'one byte', sizes: [1] },
    { name: 'nothing', sizes: [] as number[] },
  ])('writes every byte in order: $name', async ({ sizes }) => {
    const spool = await SpoolFile.create(join(dir, 'a'));
    const parts = sizes.map((size, i) => bytes(size, i + 1));
    await pipeline(Readable.from(parts), spool.createWriter({ syncBehind: true }));
    expect((await readFile(spool.path)).equals(Buffer.concat(parts))).toBe(true);
    await spool.dispose();
  });

  it('fails the pipeline when a write fails, and keeps only whole writes', async () => {
    const spool = await SpoolFile.create(join(dir, 'b'));
    // Closing the descriptor under the writer makes its next write fail (EBADF).
    await spool.dispose();
    await expect(
      pipeline(Readable.from([bytes(100, 1), bytes(200, 2)]), spool.createWriter()),
    ).rejects.toThrow();
  });

  it('lets a reader follow the file while it grows, holding back the last byte until release', async () => {
    const spool = await SpoolFile.create(join(dir, 'c'));
    const source = new PassThrough();
    const writing = pipeline(source, spool.createWriter());
    const reader = await spool.openReader('released');
    const sink = new Sink(1);
    const sending = reader.sendTo(sink);
    const parts = Array.from({ length: 40 }, (_, i) => bytes(40_000 + i, i + 7));
    for (const part of parts) {
      source.write(part);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    source.end();
    await writing;
    spool.verified();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const whole = Buffer.concat(parts);
    expect(sink.body.length).toBe(whole.length - 1);
    spool.release();
    await sending;
    expect(sink.body.equals(whole)).toBe(true);
    await spool.dispose();
  });

  it("makes a following reader's sendTo reject when the fetch fails", async () => {
    const spool = await SpoolFile.create(join(dir, 'd'));
    await pipeline(Readable.from([bytes(1000, 3)]), spool.createWriter());
    const reader = await spool.openReader('released');
    const sending = reader.sendTo(new Sink());
    spool.fail(new Error('digest mismatch'));
    await expect(sending).rejects.toThrow('digest mismatch');
    await spool.dispose();
  });

  it('announces the first bytes at once, then steps of 1 MiB, a smaller growth within 5 ms, and the end', async () => {
    const spool = await SpoolFile.create(join(dir, 'e'));
    const source = new PassThrough();
    const writing = pipeline(source, spool.createWriter());
    const told: { readable: number; ended: boolean }[] = [];
    const following = (async () => {
      for await (const window of spool.windows('released')) {
        told.push(window);
      }
    })();
    // 3 MiB in 64 KiB pieces, quickly: a few windows, not one per write.
    const piece = bytes(64 * 1024, 9);
    for (let i = 0; i < 48; i += 1) {
      source.write(piece);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Then a trickle: 10 bytes, told before the end although far from a step.
    source.write(bytes(10, 4));
    await new Promise((resolve) => setTimeout(resolve, 30));
    source.end();
    await writing;
    spool.verified();
    spool.release();
    await following;
    const total = 48 * 64 * 1024 + 10;
    expect(told[0].readable).toBe(0);
    expect(told[1].readable).toBeGreaterThan(0);
    expect(told[1].readable).toBeLessThan(1024 * 1024);
    expect(told.length).toBeLessThanOrEqual(12);
    expect(told.at(-1)).toMatchObject({ readable: total, ended: true });
    // Every window but the end holds back the last byte received.
    expect(told.slice(0, -1).every(({ readable }) => readable < total)).toBe(true);
    expect(told.at(-2)).toEqual({ readable: total - 1, ended: false });
    await spool.dispose();
  });
});
