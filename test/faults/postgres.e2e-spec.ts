import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type PostgresService, startPostgres } from '../../tools/services';
import { Stack } from '../helpers/stack';
import { UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';
import { FaultBook, ask, expectServed } from './fault-book';
import { pgQuery } from '../helpers/isolated-services';
import { Freezer, faultDir, killAll } from './fault-services';

const KiB = 1024;
const FAST_MS = 10_000;
const SIZE = 512 * KiB;
const DATABASE = 'faults';

interface Row {
  size: string;
  sha256: string;
}

/**
 * Postgres faults on a cluster of this spec's own: SIGSTOP of the postmaster and every backend
 * (a partition), and SIGKILL of them all followed by a restart on the same port and data
 * directory. Postgres is bookkeeping: misses complete, hits are served, nothing waits on it, and
 * the rows are written once it is back.
 */
describe('faults: Postgres', () => {
  const book = new FaultBook(__filename);
  const upstream = new UpstreamServer();
  const freezer = new Freezer();
  let dataDir: string;
  let postgres: PostgresService;
  let stack: Stack;
  const url = (path: string) => `${stack.url()}/api/v1/remote/files/${path}`;

  const row = async (path: string): Promise<Row | undefined> =>
    (
      await pgQuery<Row>(
        postgres.url,
        `SELECT size::text AS size, sha256 FROM cached_artifacts WHERE remote = 'files' AND path = $1`,
        [path],
      )
    )[0];

  /** The row of `path` appears (Postgres is back, and the fetcher wrote what it owed). */
  async function expectRowAppears(path: string): Promise<void> {
    const found = await waitFor(() => row(path), {
      description: `the cached_artifacts row of ${path}`,
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    expect(found).toEqual({ size: String(SIZE), sha256: generatedSha256(SIZE) });
  }

  /** The same, as a row of the table: timed from Postgres being back. */
  async function checkRowAppears(path: string, fault: string): Promise<void> {
    await book.checkState(
      { case: 'cached_artifacts row', fault, must: 'written once Postgres is back' },
      async () => ((await row(path)) ? 'row present' : 'no row'),
      () => expectRowAppears(path),
    );
  }

  beforeAll(async () => {
    dataDir = join(await faultDir('postgres'), 'pg');
    // persist: fsync and synchronous commits on, as in production. A killed Postgres is a crash,
    // and the throwaway settings of other specs (synchronous_commit=off) are allowed to lose the
    // last transactions on a crash: once, the migrations themselves.
    postgres = await startPostgres({ dataDir, database: DATABASE, persist: true });
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files`, upstream_timeout: 2 },
      },
      env: { DATABASE_URL: postgres.url },
    });
    // A file cached and recorded before any fault: its hit must not need Postgres.
    upstream.set('files/hit.bin', { size: SIZE });
    expectServed(await ask(url('hit.bin'), { withinMs: FAST_MS }), generatedSha256(SIZE));
    await expectRowAppears('hit.bin');
  });

  afterAll(async () => {
    freezer.release();
    await stack?.stop();
    await postgres?.stop();
    await upstream.stop();
    book.print();
  });

  /** While Postgres is out: a hit, a cold miss, and the same file again (now a hit). */
  async function checkWhileDown(name: string, fault: string): Promise<void> {
    await book.together(async () => {
      const hit = await ask(url('hit.bin'), { withinMs: FAST_MS });
      book.check({ case: 'hit', fault, must: '200, right sha256' }, hit, () => {
        expectServed(hit, generatedSha256(SIZE));
      });
      upstream.set(`files/${name}`, { size: SIZE });
      const miss = await ask(url(name), { withinMs: FAST_MS });
      book.check({ case: 'cold miss', fault, must: '200, right sha256, 1 GET' }, miss, () => {
        expectServed(miss, generatedSha256(SIZE), SIZE);
        expect(upstream.count(`files/${name}`)).toBe(1);
      });
      const again = await ask(url(name), { withinMs: FAST_MS });
      book.check(
        { case: 'same file again', fault, must: '200 from cache, still 1 GET' },
        again,
        () => {
          expectServed(again, generatedSha256(SIZE), SIZE);
          expect(again.headers['x-artifact-source']).toBe('cache');
          expect(upstream.count(`files/${name}`)).toBe(1);
        },
      );
    });
  }

  it('stopped: misses complete and hits are served without waiting; the row is written after SIGCONT', async () => {
    await book.together(async () => {
      freezer.stop([postgres.pid]);
      try {
        await checkWhileDown('paused.bin', 'Postgres SIGSTOP');
      } finally {
        freezer.release();
      }
      await checkRowAppears('paused.bin', 'after SIGCONT');
    });
  });

  it('killed: misses complete and hits are served; restarted on the same port and data, the row appears', async () => {
    await book.together(async () => {
      await killAll([postgres.pid]);
      await checkWhileDown('killed.bin', 'Postgres killed');
      // Postgres takes any PID in its lock files that kill(0) reaches for a running server, and a
      // SIGKILLed postmaster lingers as a zombie until its parent (PID 1 here) reaps it.
      const postmaster = postgres.pid;
      await waitFor(() => !existsSync(`/proc/${postmaster}`), {
        description: `the killed postmaster ${postmaster} to be reaped`,
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      postgres = await startPostgres({
        dataDir,
        database: DATABASE,
        port: postgres.port,
        persist: true,
      });
      await checkRowAppears('killed.bin', 'after the restart');
      const hit = await ask(url('killed.bin'), { withinMs: FAST_MS });
      expectServed(hit, generatedSha256(SIZE), SIZE);
      expect(upstream.count('files/killed.bin')).toBe(1);
    });
  });
});
