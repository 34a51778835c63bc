import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { cacheKey } from '@app/cache';
import { isAlive } from '../../tools/processes';
import { type RedisService, startRedis } from '../../tools/services';
import { Stack } from '../helpers/stack';
import { UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';
import {
  FaultBook,
  ask,
  expectApiError,
  expectRightOrBroken,
  expectServed,
  msSince,
} from './fault-book';
import { Freezer, QueueProbe, faultDir, killAll } from './fault-services';

const KiB = 1024;
const MiB = 1024 * KiB;
/** "a few seconds" of the contract, as a bound that only a hang exceeds */
const FAST_MS = 10_000;
const hex = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Redis faults on a redis-server of this spec's own (the run's shared one serves the other specs):
 * SIGSTOP (a partition: connections open, nothing answers) and SIGKILL followed by a restart,
 * empty, on the same port. Hits are served throughout, misses answer 503 with Retry-After, and
 * everything recovers without restarting a gateway or a fetcher.
 */
describe('faults: Redis', () => {
  const book = new FaultBook(__filename);
  const upstream = new UpstreamServer();
  const freezer = new Freezer();
  let dataDir: string;
  let redis: RedisService;
  let stack: Stack;
  let appPids: number[];
  const queue = new QueueProbe(() => redis.url);
  const url = (path: string) => `${stack.url()}/api/v1/remote/files/${path}`;

  beforeAll(async () => {
    dataDir = join(await faultDir('redis'), 'redis');
    redis = await startRedis({ dataDir });
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: {
          package: 'generic',
          base_url: `${upstream.url}/files`,
          upstream_timeout: 2,
          mutable_patterns: ['.*\\.idx$'],
          mutable_ttl: 1,
        },
      },
      env: { REDIS_URL: redis.url },
    });
    appPids = [...stack.gateways, ...stack.fetchers].map((app) => app.pid!);
  });

  afterAll(async () => {
    freezer.release();
    await queue.close();
    await stack?.stop();
    await redis?.stop();
    await upstream.stop();
    book.print();
  });

  afterEach(() => {
    freezer.release();
  });

  /** Caches an immutable file and an index, and waits for the index's TTL to run out. */
  async function cacheHitAndExpiredIndex(name: string): Promise<void> {
    upstream.set(`files/${name}.bin`, { size: 256 * KiB });
    upstream.set(`files/${name}.idx`, { body: `index ${name}` });
    expectServed(await ask(url(`${name}.bin`), { withinMs: FAST_MS }), generatedSha256(256 * KiB));
    expectServed(await ask(url(`${name}.idx`), { withinMs: FAST_MS }), hex(`index ${name}`));
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await waitFor(
        async () => (await client.exists(cacheKey('fresh', 'files', `${name}.idx`))) === 0,
        { description: `the TTL of ${name}.idx to run out`, timeoutMs: 10_000 },
      );
    } finally {
      client.disconnect();
    }
  }

  /** While Redis is down: the hit, the stale index, and a cold miss that reaches no upstream. */
  async function checkWhileDown(name: string, fault: string): Promise<void> {
    await book.together(async () => {
      const hit = await ask(url(`${name}.bin`), { withinMs: FAST_MS });
      book.check({ case: 'hit', fault, must: '200, right sha256' }, hit, () => {
        expectServed(hit, generatedSha256(256 * KiB));
      });
      const stale = await ask(url(`${name}.idx`), { withinMs: FAST_MS });
      book.check({ case: 'expired index', fault, must: '200 stale, right sha256' }, stale, () => {
        expectServed(stale, hex(`index ${name}`));
        expect(stale.headers['x-artifact-source']).toBe('stale');
      });
      upstream.set(`files/${name}-cold.bin`, { size: 128 * KiB });
      const miss = await ask(url(`${name}-cold.bin`), { withinMs: FAST_MS });
      book.check({ case: 'cold miss', fault, must: '503 + Retry-After, 0 GETs' }, miss, () => {
        expectApiError(miss, 503, null, { retryAfter: true });
        expect(upstream.count(`files/${name}-cold.bin`)).toBe(0);
      });
    });
  }

  function expectNoRestart(): void {
    expect([...stack.gateways, ...stack.fetchers].map((app) => app.pid)).toEqual(appPids);
    expect(appPids.every(isAlive)).toBe(true);
  }

  it('stopped: hits and stale indexes are served, a cold miss is 503 at once; after SIGCONT the next miss works', async () => {
    await book.together(async () => {
      await cacheHitAndExpiredIndex('paused');
      freezer.stop([redis.pid]);
      try {
        await checkWhileDown('paused', 'Redis SIGSTOP');
      } finally {
        freezer.cont([redis.pid]);
      }
      upstream.set('files/after-pause.bin', { size: 128 * KiB });
      const next = await ask(url('after-pause.bin'), { withinMs: FAST_MS });
      book.check(
        { case: 'next miss', fault: 'after SIGCONT', must: '200, 1 GET, no restart' },
        next,
        () => {
          expectServed(next, generatedSha256(128 * KiB));
          expect(upstream.count('files/after-pause.bin')).toBe(1);
        },
      );
      expectNoRestart();
    });
  });

  it('stopped while a miss waits for its job to start: the miss answers 503 within seconds; the job runs once Redis is back', async () => {
    const size = 128 * KiB;
    upstream.set('files/waiting.bin', { size });
    // A fetcher that does not take jobs (stopped too), so the miss is still waiting when Redis stops.
    const fetcher = stack.fetchers[0].pid!;
    freezer.stop([fetcher]);
    let since = 0;
    try {
      const pending = ask(url('waiting.bin'), { withinMs: 30_000 });
      await queue.until('files', 'waiting.bin', 'waiting');
      freezer.stop([redis.pid]);
      since = performance.now();
      const miss = await pending;
      book.check(
        {
          case: 'waiting miss',
          fault: 'Redis SIGSTOP',
          must: '503 + Retry-After within 10 s',
          since,
        },
        miss,
        () => {
          expectApiError(miss, 503, null, { retryAfter: true });
          expect(msSince(miss, since)).toBeLessThan(FAST_MS);
        },
      );
    } finally {
      freezer.cont([redis.pid, fetcher]);
    }
    expect(await queue.settle('files', 'waiting.bin')).toBeNull();
    expect(upstream.count('files/waiting.bin')).toBe(1);
    const hit = await ask(url('waiting.bin'), { withinMs: FAST_MS });
    expectServed(hit, generatedSha256(size));
    expect(hit.headers['x-artifact-source']).toBe('cache');
    expectNoRestart();
  });

  it('stopped while a miss streams: the client completes or breaks within a bound; the fetch is published once', async () => {
    const size = 4 * MiB;
    upstream.set('files/streaming.bin', { size, rate: 1 * MiB });
    let since = 0;
    let answer;
    try {
      answer = await ask(url('streaming.bin'), {
        withinMs: 60_000,
        onData: (received) => {
          if (since === 0 && received >= 512 * KiB) {
            freezer.stop([redis.pid]);
            since = performance.now();
          }
        },
      });
    } finally {
      freezer.cont([redis.pid]);
    }
    const streamed = answer;
    book.check(
      {
        case: 'streaming miss',
        fault: 'Redis SIGSTOP',
        must: 'right bytes or broken, within 30 s',
        since,
      },
      streamed,
      () => {
        expect(since).toBeGreaterThan(0);
        expectRightOrBroken(streamed, generatedSha256(size), size);
        expect(msSince(streamed, since)).toBeLessThan(30_000);
      },
    );
    expect(await queue.settle('files', 'streaming.bin')).toBeNull();
    const after = await ask(url('streaming.bin'), { withinMs: FAST_MS });
    expectServed(after, generatedSha256(size), size);
    // The upstream sent every byte while Redis was stopped, and storage does not need Redis.
    expect(upstream.count('files/streaming.bin')).toBe(1);
    expectNoRestart();
  });

  it('killed: hits served, misses 503; restarted empty on the same port, everything recovers without a restart', async () => {
    await book.together(async () => {
      await cacheHitAndExpiredIndex('killed');
      await killAll([redis.pid]);
      await checkWhileDown('killed', 'Redis killed');

      redis = await startRedis({ dataDir, port: redis.port });
      const since = performance.now();
      const recovered = await waitFor(
        async () => {
          const answer = await ask(url('killed-cold.bin'), { withinMs: FAST_MS });
          return answer.status === 200 && answer.complete ? answer : null;
        },
        { description: 'a miss to work after the restart', timeoutMs: 30_000, intervalMs: 250 },
      );
      book.check(
        {
          case: 'miss after restart',
          fault: 'Redis restarted empty',
          must: '200, 1 GET, no restart',
          since,
        },
        recovered,
        () => {
          expectServed(recovered, generatedSha256(128 * KiB));
          expect(upstream.count('files/killed-cold.bin')).toBe(1);
        },
      );
      const hit = await ask(url('killed.bin'), { withinMs: FAST_MS });
      expectServed(hit, generatedSha256(256 * KiB));
      expect(upstream.count('files/killed.bin')).toBe(1);
      expectNoRestart();
    });
  });
});
