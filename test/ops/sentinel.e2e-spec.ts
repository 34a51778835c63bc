import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type FetchedResponse, request } from '../helpers/http';
import { requireEnv } from '../helpers/isolated-services';
import { SentinelGroup } from '../helpers/sentinel-group';
import { Stack } from '../helpers/stack';
import { UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';

interface Attempt {
  gateway: number;
  path: string;
  startedAt: number;
  endedAt: number;
  /** 0: no HTTP answer (refused, reset) */
  status: number;
  retryAfter: string | undefined;
  /** a complete body with the expected sha256 */
  intact: boolean;
  source: string | undefined;
}

interface FailoverRun {
  hits: Attempt[];
  misses: Attempt[];
  faultAt: number;
  recoveredAt: number;
}

const HOT = ['hot/a.bin', 'hot/b.bin', 'hot/c.bin'];
const INDEX = 'index.json';
const INDEX_BODY = JSON.stringify({ packages: ['a', 'b', 'c'] });
/** A bound only: a miss whose job was lost with the old primary adds it again within seconds. */
const FETCH_WAIT_TIMEOUT = 30;
/** concurrent clients asking for new paths, per gateway */
const MISS_CLIENTS = 3;

const hotSize = (i: number) => 64 * 1024 + i;
const coldSize = (n: number) => 2048 + n;
const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Redis failover through Sentinel (two data nodes, three sentinels), while two gateways serve
 * hits and a stream of cold misses: first the primary hangs (SIGSTOP: a frozen host or a
 * partition, no socket is closed), then, once the group is whole again, the new primary dies
 * (SIGKILL). Hits never fail; misses fail only with 503 + Retry-After until a replica has taken
 * over; nothing is fetched twice; the apps follow each new primary without a restart.
 */
describe('Redis Sentinel failover', () => {
  const upstream = new UpstreamServer();
  let group: SentinelGroup;
  let stack: Stack;
  let nextCold = 0;
  const requested = new Set<string>();
  const served = new Set<string>();

  beforeAll(async () => {
    await upstream.start();
    for (const [i, path] of HOT.entries()) {
      upstream.set(`files/${path}`, { size: hotSize(i) });
    }
    upstream.set(`files/${INDEX}`, { body: INDEX_BODY, contentType: 'application/json' });
    group = await SentinelGroup.start({
      dir: join(requireEnv('TEST_TMP_DIR'), `sentinel-${randomBytes(3).toString('hex')}`),
      // A primary silent for 1 s is down; a failover that stalls is tried again after 3 s.
      downAfterMs: 1000,
      failoverTimeoutMs: 3000,
    });
    stack = await Stack.start({
      remotes: {
        files: {
          package: 'generic',
          base_url: `${upstream.url}/files`,
          mutable_patterns: ['index\\.json$'],
          immutable_patterns: ['.*\\.bin$'],
          mutable_ttl: 3600,
        },
      },
      gateways: 2,
      fetchers: 2,
      env: { ...group.env(2), FETCH_WAIT_TIMEOUT: String(FETCH_WAIT_TIMEOUT) },
    });
    // Warm the hot set through one gateway; both serve it from storage afterwards.
    for (const path of [...HOT, INDEX]) {
      requested.add(path);
      served.add(path);
      expect(await attempt(0, path)).toMatchObject({ status: 200, intact: true });
    }
  });

  afterAll(async () => {
    await stack?.stop();
    await group?.stop();
    await upstream.stop();
  });

  function expectedSha(path: string): string {
    if (path === INDEX) {
      return sha256(Buffer.from(INDEX_BODY));
    }
    const hot = HOT.indexOf(path);
    return generatedSha256(hot >= 0 ? hotSize(hot) : coldSize(Number(/\d+/.exec(path)![0])));
  }

  async function attempt(gateway: number, path: string): Promise<Attempt> {
    const startedAt = Date.now();
    let response: FetchedResponse | null = null;
    try {
      response = await request(`${stack.url(gateway)}/api/v1/remote/files/${path}`);
    } catch {
      // no answer at all: status 0, which every assertion rejects
    }
    return {
      gateway,
      path,
      startedAt,
      endedAt: Date.now(),
      status: response?.status ?? 0,
      retryAfter: response?.headers['retry-after'],
      intact: response !== null && response.complete && sha256(response.body) === expectedSha(path),
      source: response?.headers['x-artifact-source'] as string | undefined,
    };
  }

  async function everyAppHasRedis(): Promise<boolean> {
    const checks = await Promise.all(
      [...stack.gateways, ...stack.fetchers].map(async (app) => {
        const health = (await (await fetch(`${app.url}/health`)).json()) as {
          checks: { redis: string };
        };
        return health.checks.redis === 'ok';
      }),
    );
    return checks.every(Boolean);
  }

  /**
   * Hits on both gateways in a loop, and MISS_CLIENTS clients per gateway each asking for one new
   * path after another (retrying a refused one, sooner than Retry-After says, to see the window
   * finely). `fault` breaks the primary once 20 misses were served; the run ends when 20 misses
   * asked for after the recovery (every sentinel names the old replica, every app reaches Redis)
   * were served.
   */
  async function trafficThrough(fault: () => void): Promise<FailoverRun> {
    const hits: Attempt[] = [];
    const misses: Attempt[] = [];
    let stop = false;
    const hitLoop = async (gateway: number) => {
      while (!stop) {
        for (const path of [...HOT, INDEX]) {
          hits.push(await attempt(gateway, path));
        }
      }
    };
    const missLoop = async (gateway: number) => {
      while (!stop) {
        const n = nextCold++;
        const path = `cold/${n}.bin`;
        upstream.set(`files/${path}`, { size: coldSize(n) });
        requested.add(path);
        for (;;) {
          const result = await attempt(gateway, path);
          misses.push(result);
          if (result.status === 200) {
            served.add(path);
          }
          if (result.status === 200 || stop || result.status !== 503) {
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    };
    const loops = [0, 1].flatMap((gateway) => [
      hitLoop(gateway),
      ...Array.from({ length: MISS_CLIENTS }, () => missLoop(gateway)),
    ]);
    const servedSince = (after: number) =>
      misses.filter((m) => m.status === 200 && m.startedAt >= after).length;

    const before = Date.now();
    const newPrimary = group.replica.port;
    let faultAt = 0;
    let recoveredAt = 0;
    try {
      await waitFor(() => servedSince(before) >= 20, {
        description: '20 cold misses served before the fault',
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      fault();
      faultAt = Date.now();
      await waitFor(
        async () =>
          (await group.primaryPorts()).every((port) => port === newPrimary) &&
          (await everyAppHasRedis()),
        {
          description: `the sentinels to promote :${newPrimary} and every app to reconnect`,
          timeoutMs: 60_000,
          intervalMs: 100,
        },
      );
      recoveredAt = Date.now();
      await waitFor(() => servedSince(recoveredAt) >= 20, {
        description: '20 cold misses served after the recovery',
        timeoutMs: 60_000,
        intervalMs: 100,
      });
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    return { hits, misses, faultAt, recoveredAt };
  }

  function expectServedThrough(label: string, run: FailoverRun): void {
    const { hits, misses, faultAt, recoveredAt } = run;
    // Hits: every one a complete 200 with the right bytes, on both gateways, during the failover too.
    expect(hits.filter((h) => h.status !== 200 || !h.intact)).toEqual([]);
    const hitsDuring = hits.filter((h) => h.endedAt >= faultAt && h.startedAt <= recoveredAt);
    expect(new Set(hitsDuring.map((h) => h.gateway))).toEqual(new Set([0, 1]));

    // Misses: a 200 with the right bytes, or a 503 with Retry-After while there is no primary.
    const failed = misses.filter((m) => m.status !== 200);
    expect(misses.filter((m) => m.status === 200 && !m.intact)).toEqual([]);
    // A job lost with the old primary is added again by its waiter: no 504 after FETCH_WAIT_TIMEOUT.
    expect(failed.filter((m) => !(m.status === 503 && m.retryAfter))).toEqual([]);
    expect(failed.filter((m) => m.endedAt < faultAt || m.startedAt > recoveredAt)).toEqual([]);
    // After the recovery every request is served at the first try.
    expect(misses.filter((m) => m.startedAt > recoveredAt && m.status !== 200)).toEqual([]);

    const firstFailure = failed.length > 0 ? Math.min(...failed.map((m) => m.endedAt)) : null;
    // A miss already past its Redis round trips when the fault hit may succeed after the first
    // failure; the window ends with the first success of a miss asked for after it.
    const firstSuccessAfter =
      firstFailure === null
        ? null
        : Math.min(
            ...misses
              .filter((m) => m.status === 200 && m.startedAt > firstFailure)
              .map((m) => m.endedAt),
          );
    const slowest = (attempts: Attempt[]) =>
      seconds(Math.max(...attempts.map((a) => a.endedAt - a.startedAt)));
    process.stdout.write(
      [
        '',
        `sentinel failover, ${label}: sentinels and apps recovered ${seconds(recoveredAt - faultAt)} after the fault`,
        firstFailure === null || firstSuccessAfter === null
          ? '  no miss failed'
          : `  failover window (first failed miss → first successful miss after it): ` +
            `${seconds(firstSuccessAfter - firstFailure)}, +${seconds(firstFailure - faultAt)} to ` +
            `+${seconds(firstSuccessAfter - faultAt)} after the fault`,
        `  hits: ${hits.length}, ${hitsDuring.length} during the failover (slowest ${slowest(hitsDuring)}, ` +
          `${hitsDuring.filter((h) => h.source === 'stale').length} of ${INDEX} served stale), none failed`,
        `  misses: ${new Set(misses.map((m) => m.path)).size} paths, ${misses.length} requests, ` +
          `${failed.length} answered 503, slowest ${slowest(misses)}`,
        '',
      ].join('\n'),
    );
  }

  it('follows the replica when the primary hangs (SIGSTOP: no socket closes)', async () => {
    const pids = [...stack.gateways, ...stack.fetchers].map((app) => app.pid);
    const hung = group.primary;
    let run: FailoverRun;
    try {
      run = await trafficThrough(() => process.kill(hung.pid, 'SIGSTOP'));
    } finally {
      process.kill(hung.pid, 'SIGCONT');
    }
    // Woken, the old primary is turned into a replica of the new one by the sentinels.
    await group.waitUntilFormed();
    expect(group.replica.port).toBe(hung.port);
    expectServedThrough('primary hung', run);
    expect([...stack.gateways, ...stack.fetchers].map((app) => app.pid)).toEqual(pids);
  });

  it('follows the replica when the primary dies (SIGKILL)', async () => {
    const pids = [...stack.gateways, ...stack.fetchers].map((app) => app.pid);
    const killed = group.primary;
    const run = await trafficThrough(() => process.kill(killed.pid, 'SIGKILL'));
    expectServedThrough('primary killed', run);
    expect([...stack.gateways, ...stack.fetchers].map((app) => app.pid)).toEqual(pids);
  });

  it('fetched and published every artifact exactly once, through both failovers', () => {
    const counts = [...requested].map((path) => ({
      path,
      served: served.has(path),
      gets: upstream.count(`files/${path}`),
    }));
    expect(counts.filter((c) => c.served).length).toBeGreaterThan(80);
    // A path whose client was still retrying when a run ended may not have been fetched yet.
    expect(counts.filter((c) => (c.served ? c.gets !== 1 : c.gets > 1))).toEqual([]);
  });
});
