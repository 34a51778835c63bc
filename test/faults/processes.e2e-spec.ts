import { type AppProcess, Stack } from '../helpers/stack';
import { UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';
import {
  type Answer,
  FaultBook,
  ask,
  expectApiError,
  expectBroken,
  expectServed,
  msSince,
} from './fault-book';
import { QueueProbe } from './fault-services';

const MiB = 1024 * 1024;
const FAST_MS = 10_000;
/** stall detection: lockDuration 15 s + stalledInterval 5 s, with room for a slow machine */
const TAKEOVER_MS = 60_000;

/**
 * Our own processes dying: a fetcher SIGKILLed mid-download while another fetcher runs, a gateway
 * SIGKILLed mid-stream, and every fetcher gone. Two gateways and two fetchers on the run's shared
 * services (nothing here stops those).
 */
describe('faults: gateways and fetchers', () => {
  const book = new FaultBook(__filename);
  const upstream = new UpstreamServer();
  let stack: Stack;
  const queue = new QueueProbe(() => stack.redisUrl);
  const url = (gateway: number, path: string) =>
    `${stack.url(gateway)}/api/v1/remote/files/${path}`;

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files`, upstream_timeout: 2 },
      },
      gateways: 2,
      fetchers: 2,
    });
  });

  afterAll(async () => {
    await queue.close();
    await stack?.stop();
    await upstream.stop();
    book.print();
  });

  /** The fetcher whose in-flight stream serves the running job of `path`. */
  async function fetcherRunning(path: string) {
    const job = await queue.until('files', path, 'active');
    const progress = job.progress as { streamUrl?: string };
    const port = Number(new URL(progress.streamUrl ?? 'http://x:0').port);
    const fetcher = stack.fetchers.find((f) => f.port === port);
    if (!fetcher) {
      throw new Error(`no fetcher of this stack streams ${path}: ${JSON.stringify(progress)}`);
    }
    return fetcher;
  }

  it('a fetcher SIGKILLed mid-download: its clients break at once, the other fetcher takes the job over and publishes it; 2 GETs', async () => {
    const size = 8 * MiB;
    const sha256 = generatedSha256(size);
    upstream.set('files/killed.bin', { size, rate: 1 * MiB });
    let since = 0;
    let kill: Promise<AppProcess> | null = null;
    const clients = [0, 1].map((gateway) =>
      ask(url(gateway, 'killed.bin'), {
        withinMs: 60_000,
        onData: (received) => {
          if (gateway === 0 && kill === null && received >= 1 * MiB) {
            kill = fetcherRunning('killed.bin').then(async (fetcher) => {
              since = performance.now();
              await fetcher.kill();
              return fetcher;
            });
          }
        },
      }),
    );
    const answers = await Promise.all(clients);
    // Assigned in the callback above, which TypeScript's narrowing does not see.
    const victim = await (kill as Promise<AppProcess> | null);
    answers.forEach((answer, gateway) =>
      book.check(
        {
          case: `client on gateway ${gateway}`,
          fault: 'fetcher SIGKILL',
          must: 'broken within 10 s',
          since,
        },
        answer,
        () => {
          expect(since).toBeGreaterThan(0);
          expectBroken(answer, size);
          expect(msSince(answer, since)).toBeLessThan(FAST_MS);
        },
      ),
    );
    // The takeover needs no slow upstream; a fast one keeps the case short.
    upstream.set('files/killed.bin', { size });
    const next = await ask(url(1, 'killed.bin'), { withinMs: TAKEOVER_MS });
    book.check(
      {
        case: 'new request',
        fault: 'job taken over',
        must: 'right bytes once the other fetcher has it',
        since,
      },
      next,
      () => expectServed(next, sha256, size),
    );
    expect(await queue.settle('files', 'killed.bin')).toBeNull();
    const hit = await ask(url(0, 'killed.bin'), { withinMs: FAST_MS });
    expectServed(hit, sha256, size);
    expect(hit.headers['x-artifact-source']).toBe('cache');
    expect(upstream.count('files/killed.bin')).toBe(2);
    await victim?.start();
  });

  it('a gateway SIGKILLed mid-stream: its client breaks, the fetch goes on and the other gateway serves a hit; 1 GET', async () => {
    const size = 4 * MiB;
    const sha256 = generatedSha256(size);
    upstream.set('files/gateway.bin', { size, rate: 2 * MiB });
    let since = 0;
    let kill: Promise<void> | null = null;
    const answer = await ask(url(0, 'gateway.bin'), {
      withinMs: 60_000,
      onData: (received) => {
        if (kill === null && received >= 1 * MiB) {
          since = performance.now();
          kill = stack.gateways[0].kill();
        }
      },
    });
    await (kill as Promise<void> | null);
    book.check(
      { case: 'its client', fault: 'gateway SIGKILL', must: 'broken within 10 s', since },
      answer,
      () => {
        expect(answer.timedOut).toBe(false);
        expect(answer.complete).toBe(false);
        expect(answer.size).toBeLessThan(size);
        expect(msSince(answer, since)).toBeLessThan(FAST_MS);
      },
    );
    await waitFor(
      async () =>
        (await ask(url(1, 'gateway.bin'), { method: 'HEAD', withinMs: FAST_MS })).headers[
          'x-artifact-source'
        ] === 'cache',
      {
        description: 'the fetch to be published without its gateway',
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    const hit = await ask(url(1, 'gateway.bin'), { withinMs: FAST_MS });
    book.check(
      {
        case: 'other gateway',
        fault: 'after the kill',
        must: '200 from cache, right sha256, 1 GET',
      },
      hit,
      () => {
        expectServed(hit, sha256, size);
        expect(hit.headers['x-artifact-source']).toBe('cache');
        expect(upstream.count('files/gateway.bin')).toBe(1);
      },
    );
    await stack.gateways[0].start();
  });

  it('every fetcher down: hits are served by both gateways, a cold miss is 503 with Retry-After; a fetcher back, the miss works', async () => {
    const size = 1 * MiB;
    upstream.set('files/hit.bin', { size });
    upstream.set('files/cold.bin', { size });
    expectServed(await ask(url(0, 'hit.bin'), { withinMs: FAST_MS }), generatedSha256(size));
    await Promise.all(stack.fetchers.map((f) => f.kill()));
    const fault = 'every fetcher killed';
    for (const gateway of [0, 1]) {
      const hit = await ask(url(gateway, 'hit.bin'), { withinMs: FAST_MS });
      book.check(
        { case: `hit on gateway ${gateway}`, fault, must: '200, right sha256' },
        hit,
        () => {
          expectServed(hit, generatedSha256(size), size);
        },
      );
    }
    const miss = await ask(url(0, 'cold.bin'), { withinMs: FAST_MS });
    book.check({ case: 'cold miss', fault, must: '503 + Retry-After, 0 GETs' }, miss, () => {
      expectApiError(miss, 503, null, { retryAfter: true });
      expect(upstream.count('files/cold.bin')).toBe(0);
    });

    await stack.fetchers[0].start();
    const since = performance.now();
    const back: Answer = await waitFor(
      async () => {
        const answer = await ask(url(1, 'cold.bin'), { withinMs: FAST_MS });
        return answer.status === 200 && answer.complete ? answer : null;
      },
      { description: 'a miss to work with a fetcher back', timeoutMs: 30_000, intervalMs: 250 },
    );
    book.check(
      { case: 'cold miss', fault: 'a fetcher back', must: '200, right sha256, 1 GET', since },
      back,
      () => {
        expectServed(back, generatedSha256(size), size);
        expect(upstream.count('files/cold.bin')).toBe(1);
      },
    );
  });
});
