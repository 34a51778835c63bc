import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactError } from '@app/common';
import { HashingTransform, type HashingTransformOptions } from './hashing.transform';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Runs chunks through a HashingTransform; returns what came out and what the sink received. */
async function run(
  chunks: Buffer[],
  options?: HashingTransformOptions,
): Promise<{ hasher: HashingTransform; received: Buffer[]; error: unknown }> {
  const hasher = new HashingTransform(options);
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
  let error: unknown;
  try {
    await pipeline(Readable.from(chunks), hasher, sink);
  } catch (e) {
    error = e;
  }
  return { hasher, received, error };
}

describe('HashingTransform', () => {
  const data = Buffer.from('hello, artifact cache');
  const chunks = [data.subarray(0, 5), data.subarray(5, 12), data.subarray(12)];

  it('passes bytes through unchanged and reports size and sha256', async () => {
    const { hasher, received, error } = await run(chunks);
    expect(error).toBeUndefined();
    expect(Buffer.concat(received)).toEqual(data);
    expect(hasher.byteCount).toBe(data.length);
    expect(hasher.sha256).toBe(sha256(data));
  });

  it('hashes an empty stream', async () => {
    const { hasher, error } = await run([]);
    expect(error).toBeUndefined();
    expect(hasher.byteCount).toBe(0);
    expect(hasher.sha256).toBe(sha256(Buffer.alloc(0)));
  });

  it('accepts matching expectations, with the digest in any case', async () => {
    const { hasher, error } = await run(chunks, {
      expectedSize: data.length,
      expectedSha256: sha256(data).toUpperCase(),
    });
    expect(error).toBeUndefined();
    expect(hasher.sha256).toBe(sha256(data));
  });

  it('fails in flush when the body is shorter than expected', async () => {
    const { error, received } = await run(chunks, { expectedSize: data.length + 1 });
    expect(error).toBeInstanceOf(ArtifactError);
    expect((error as ArtifactError).code).toBe('upstream_integrity');
    expect((error as ArtifactError).message).toBe(
      `size mismatch: expected ${data.length + 1} bytes, got ${data.length}`,
    );
    // every byte was passed on, but the stream never ended: the consumer must not commit
    expect(Buffer.concat(received)).toEqual(data);
  });

  it('fails as soon as the body exceeds the expected size, without passing the excess', async () => {
    const { error, received } = await run(chunks, { expectedSize: 6 });
    expect((error as ArtifactError).code).toBe('upstream_integrity');
    expect((error as ArtifactError).message).toBe(
      'size mismatch: expected 6 bytes, got at least 12',
    );
    expect(Buffer.concat(received)).toEqual(data.subarray(0, 5));
  });

  it('fails in flush when the digest differs, naming both digests', async () => {
    const wrong = sha256(Buffer.from('something else'));
    const { error, hasher } = await run(chunks, { expectedSha256: wrong });
    expect((error as ArtifactError).code).toBe('upstream_integrity');
    expect((error as ArtifactError).message).toBe(
      `sha256 mismatch: expected ${wrong}, got ${sha256(data)}`,
    );
    expect(() => hasher.sha256).toThrow('before the stream ended');
  });

  it('has no length-like property that lib-storage would take for the total body size', () => {
    const hasher = new HashingTransform();
    for (const name of ['size', 'length', 'byteLength', 'start', 'path']) {
      expect([name, typeof (hasher as unknown as Record<string, unknown>)[name]]).toEqual([
        name,
        'undefined',
      ]);
    }
  });

  it('does not end its readable side when flush fails', async () => {
    const hasher = new HashingTransform({ expectedSize: 100 });
    const ended = jest.fn();
    hasher.on('end', ended);
    hasher.resume();
    const failed = new Promise((resolve) => hasher.on('error', resolve));
    hasher.end(Buffer.from('short'));
    await expect(failed).resolves.toBeInstanceOf(ArtifactError);
    expect(ended).not.toHaveBeenCalled();
  });
});
