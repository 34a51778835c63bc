import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpoolHashers } from './spool-hasher';

describe('SpoolHashers', () => {
  let dir: string;
  let hashers: SpoolHashers;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spool-hasher-'));
    hashers = new SpoolHashers(2);
  });

  afterAll(async () => {
    await hashers.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('hashes files as they grow, several at once, each to its own digest', async () => {
    const parts = [randomBytes(3 * 1024 * 1024 + 5), randomBytes(77), randomBytes(1024 * 1024)];
    const files = await Promise.all(
      [0, 1, 2].map(async (n) => {
        const path = join(dir, `grows-${n}`);
        await writeFile(path, '');
        return { path, hash: hashers.follow(path), written: 0 };
      }),
    );
    for (const part of parts) {
      for (const file of files) {
        await appendFile(file.path, part);
        file.written += part.length;
        file.hash.grew(file.written);
      }
    }
    const expected = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
    const digests = await Promise.all(files.map((file) => file.hash.digest(file.written)));
    expect(digests).toEqual([expected, expected, expected]);
  });

  it('hashes only the bytes it was told of, and fails when the file has fewer', async () => {
    const path = join(dir, 'short');
    const data = randomBytes(1000);
    await writeFile(path, data);
    const first = hashers.follow(path);
    expect(await first.digest(600)).toBe(
      createHash('sha256').update(data.subarray(0, 600)).digest('hex'),
    );
    await expect(hashers.follow(path).digest(2000)).rejects.toThrow(/shorter than the bytes/);
    // A failure before the end is told at the end, however late it is asked for.
    const missing = hashers.follow(join(dir, 'missing'));
    const shortening = hashers.follow(path);
    shortening.grew(5000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(missing.digest(1)).rejects.toThrow(/ENOENT/);
    await expect(shortening.digest(5000)).rejects.toThrow(/shorter than the bytes/);
  });
});
