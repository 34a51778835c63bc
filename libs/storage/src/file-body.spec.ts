import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { FileBody } from './file-body';

const dir = mkdtempSync(join(tmpdir(), 'file-body-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

function fileOf(name: string, size: number): { path: string; bytes: Buffer } {
  // Random: a periodic pattern would hide a chunk written from the wrong place.
  const bytes = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

async function bodyOf(path: string, start: number, end: number): Promise<FileBody> {
  return new FileBody(await open(path, 'r'), start, end);
}

async function readAll(body: FileBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A Writable like a socket: it holds each chunk until it acknowledges it, a moment later, and
 * copies it only then, so a buffer reused before its write was acknowledged shows as wrong bytes.
 */
function collector(): Writable & { bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      setTimeout(() => {
        chunks.push(Buffer.from(chunk));
        done();
      }, 1);
    },
  });
  return Object.assign(out, { bytes: () => Buffer.concat(chunks) });
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('FileBody', () => {
  it.each([
    { size: 0, start: 0, end: -1 },
    { size: 1, start: 0, end: 0 },
    { size: 4096, start: 0, end: 4095 },
    { size: 3 * MiB + 7, start: 0, end: 3 * MiB + 6 },
    { size: 3 * MiB + 7, start: 1000, end: 2 * MiB },
    { size: 3 * MiB + 7, start: 3 * MiB + 6, end: 3 * MiB + 6 },
  ])(
    'reads bytes $start-$end of $size as a Readable and through sendTo',
    async ({ size, start, end }) => {
      const { path, bytes } = fileOf(`f-${size}`, size);
      const expected = bytes.subarray(start, end + 1);
      expect(sha(await readAll(await bodyOf(path, start, end)))).toBe(sha(expected));
      const out = collector();
      await (await bodyOf(path, start, end)).sendTo(out);
      expect(sha(out.bytes())).toBe(sha(expected));
    },
  );

  it('fails, in both ways, when the file is shorter than the range it was opened for', async () => {
    const { path } = fileOf('short', 2 * MiB);
    await expect(readAll(await bodyOf(path, 0, 3 * MiB - 1))).rejects.toThrow(/ended .* early/);
    const out = collector();
    await expect((await bodyOf(path, 0, 3 * MiB - 1)).sendTo(out)).rejects.toThrow(
      /ended .* early/,
    );
    expect(out.bytes().length).toBeLessThanOrEqual(2 * MiB);
  });

  it('stops and closes the file when the connection closes mid-send', async () => {
    const { path } = fileOf('big', 8 * MiB);
    const body = await bodyOf(path, 0, 8 * MiB - 1);
    // Never acknowledges a write, then closes: the send must not wait on the lost callbacks.
    const out = new PassThrough({ highWaterMark: 1 });
    const sent = body.sendTo(out);
    setTimeout(() => out.destroy(), 50);
    await expect(sent).rejects.toThrow(/closed before the body was sent/);
    expect(body.destroyed).toBe(true);
  });

  it('refuses a second reader', async () => {
    const { path } = fileOf('once', 100);
    const body = await bodyOf(path, 0, 99);
    await body.sendTo(collector());
    await expect(body.sendTo(collector())).rejects.toThrow(/already being read/);
  });
});
