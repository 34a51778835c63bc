import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../tools/processes';
import { Stack } from '../helpers/stack';
import { UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import {
  type Answer,
  FaultBook,
  ask,
  expectNotServed,
  expectRightOrBroken,
  expectServed,
} from './fault-book';
import { QueueProbe, faultDir } from './fault-services';

const MiB = 1024 * 1024;
const FAST_MS = 10_000;

/** A tmpfs of `size` mounted at `dir` (a disk that fills up for real). Needs root. */
async function mountTmpfs(dir: string, size: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runCommand('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
}

async function unmount(dir: string): Promise<void> {
  await runCommand('umount', [dir]).catch(() => runCommand('umount', ['-l', dir]));
}

/** Writes `file` until the filesystem refuses (ENOSPC). */
async function fillUp(file: string): Promise<void> {
  const handle = await open(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) {
      await handle.write(chunk);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') {
      throw error;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Storage full, for real: the fs storage on a 16 MiB tmpfs, and (another stack) the fetcher's
 * spool on an 8 MiB one. A miss that does not fit gets the right bytes or a broken transfer and
 * is not published; hits of files stored before are served; once there is space a miss works.
 */
describe('faults: storage full', () => {
  const book = new FaultBook(__filename);
  const upstream = new UpstreamServer();
  const mounts: string[] = [];
  let storeMount: string;
  let spoolMount: string;
  let store: Stack;
  let spool: Stack;
  const storeQueue = new QueueProbe(() => store.redisUrl);
  const spoolQueue = new QueueProbe(() => spool.redisUrl);
  const url = (stack: Stack, path: string) => `${stack.url()}/api/v1/remote/files/${path}`;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) {
      throw new Error('the storage-full faults mount a tmpfs and need root (CI runs as root)');
    }
    const dir = await faultDir('storage-full');
    storeMount = join(dir, 'store');
    spoolMount = join(dir, 'spool');
    await mountTmpfs(storeMount, '16m');
    mounts.push(storeMount);
    await mountTmpfs(spoolMount, '8m');
    mounts.push(spoolMount);
    await upstream.start();
    const remotes = {
      files: { package: 'generic', base_url: `${upstream.url}/files`, upstream_timeout: 2 },
    };
    [store, spool] = await Promise.all([
      Stack.start({ remotes, env: { STORAGE_PATH: join(storeMount, 'storage') } }),
      Stack.start({ remotes, env: { TMPDIR: spoolMount } }),
    ]);
  });

  afterAll(async () => {
    await storeQueue.close();
    await spoolQueue.close();
    await Promise.all([store?.stop(), spool?.stop()]);
    await upstream.stop();
    for (const dir of mounts) {
      await unmount(dir);
    }
    book.print();
  });

  /**
   * A miss that cannot be stored, asked twice: each answer passes `expectAnswer`, the upstream
   * saw as many GETs as the jobs made attempts, and the second answer is not a hit.
   */
  async function expectNeverPublished(
    target: Stack,
    probe: QueueProbe,
    path: string,
    fault: string,
    expectAnswer: (answer: Answer) => void,
  ): Promise<void> {
    let attempts = 0;
    for (const round of ['miss', 'same file again']) {
      const answer = await ask(url(target, path), { withinMs: 60_000 });
      const job = await probe.settle('files', path);
      attempts += job?.attemptsMade ?? 0;
      const must = `right bytes or broken, not a hit; GETs = attempts (${job?.attemptsMade ?? 'no failed job'})`;
      book.check({ case: `${path}: ${round}`, fault, must }, answer, () => {
        expectAnswer(answer);
        expect(answer.headers['x-artifact-source']).not.toBe('cache');
        expect(job).not.toBeNull();
        expect(upstream.count(`files/${path}`)).toBe(attempts);
      });
    }
  }

  it('storage full: a miss that does not fit is never published, earlier files are served, a miss works once there is space', async () => {
    for (const name of ['a.bin', 'b.bin']) {
      upstream.set(`files/${name}`, { size: 1 * MiB });
      expectServed(await ask(url(store, name), { withinMs: FAST_MS }), generatedSha256(1 * MiB));
    }
    // Ours, not the product's: freed at the end to make room.
    const filler = join(storeMount, 'filler');
    await writeFile(filler, Buffer.alloc(6 * MiB));
    const fault = 'storage tmpfs full';
    const size = 32 * MiB;
    const sha256 = generatedSha256(size);
    upstream.set('files/big.bin', { size });

    await expectNeverPublished(store, storeQueue, 'big.bin', fault, (answer) =>
      expectRightOrBroken(answer, sha256, size),
    );

    // Whatever room the failed writes left, fill it: reading needs none.
    await fillUp(join(storeMount, 'filler-rest'));
    for (const name of ['a.bin', 'b.bin']) {
      const hit = await ask(url(store, name), { withinMs: FAST_MS });
      book.check(
        { case: `hit ${name}`, fault: 'storage tmpfs 100% full', must: '200, right sha256' },
        hit,
        () => {
          expectServed(hit, generatedSha256(1 * MiB), 1 * MiB);
          expect(upstream.count(`files/${name}`)).toBe(1);
        },
      );
    }

    await rm(filler);
    await rm(join(storeMount, 'filler-rest'));
    // 10 MiB fits only if the failed writes left nothing behind (16 MiB - 2 MiB stored).
    upstream.set('files/fits.bin', { size: 10 * MiB });
    const fits = await ask(url(store, 'fits.bin'), { withinMs: 30_000 });
    book.check(
      { case: '10 MiB miss', fault: 'space freed', must: '200, right sha256, then a hit' },
      fits,
      () => {
        expectServed(fits, generatedSha256(10 * MiB), 10 * MiB);
      },
    );
    const hit = await ask(url(store, 'fits.bin'), { withinMs: FAST_MS });
    expectServed(hit, generatedSha256(10 * MiB), 10 * MiB);
    expect(hit.headers['x-artifact-source']).toBe('cache');
    expect(upstream.count('files/fits.bin')).toBe(1);
  });

  it('spool full: a broken transfer, nothing published, and a miss that fits works afterwards', async () => {
    const fault = 'spool tmpfs (8 MiB) full';
    const size = 16 * MiB;
    upstream.set('files/spooled.bin', { size });
    await expectNeverPublished(spool, spoolQueue, 'spooled.bin', fault, (answer) =>
      expectNotServed(answer, size),
    );
    // The failed spool files must be gone, or this one does not fit either.
    upstream.set('files/small.bin', { size: 6 * MiB });
    const small = await ask(url(spool, 'small.bin'), { withinMs: 30_000 });
    book.check(
      { case: '6 MiB miss', fault: 'after the failures', must: '200, right sha256, 1 GET' },
      small,
      () => {
        expectServed(small, generatedSha256(6 * MiB), 6 * MiB);
        expect(upstream.count('files/small.bin')).toBe(1);
      },
    );
  });
});
