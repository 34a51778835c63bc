import { createHash } from 'node:crypto';
import { cacheKey } from '@app/cache';
import { Stack } from '../helpers/stack';
import { type UpstreamFile, UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';
import {
  type Answer,
  FaultBook,
  ask,
  expectApiError,
  expectBroken,
  expectNotServed,
  expectRegistryError,
  expectServed,
} from './fault-book';
import { FETCH_ATTEMPTS, QueueProbe } from './fault-services';

const KiB = 1024;
const MiB = 1024 * KiB;
/** upstream_timeout of every remote here, in seconds */
const UPSTREAM_TIMEOUT = 2;
/** a failure whose cause is visible at once (refused, reset, 5xx, 429) */
const FAST_MS = 10_000;
/** a timeout: the remote's upstream_timeout plus a margin */
const TIMEOUT_MS = (UPSTREAM_TIMEOUT + 8) * 1000;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * Upstream faults (the reliability issue's fault suite): an upstream that refuses, hangs before
 * its headers, stalls mid-body, resets, truncates, answers 429 or 503, a token service that is
 * down. Every case counts upstream requests once the job is final and hashes what was served.
 * Upstream faults need no private services: this spec uses the run's shared ones.
 */
describe('faults: the upstream', () => {
  const book = new FaultBook(__filename);
  const upstream = new UpstreamServer();
  /** a second upstream that goes down and comes back on the same port */
  const flaky = new UpstreamServer();
  let stack: Stack;
  const queue = new QueueProbe(() => stack.redisUrl);
  const file = (remote: string, path: string) => `${stack.url()}/api/v1/remote/${remote}/${path}`;

  beforeAll(async () => {
    await Promise.all([upstream.start(), flaky.start()]);
    // Without the circuit breaker: each case meets its fault as it is (test/offline.e2e-spec.ts
    // covers the breaker, which would otherwise take a remote offline after a few of these).
    const noBreaker = { circuit: { failures: 0 } };
    const generic = { package: 'generic', upstream_timeout: UPSTREAM_TIMEOUT, ...noBreaker };
    stack = await Stack.start({
      remotes: {
        up: { ...generic, base_url: `${upstream.url}/up` },
        // Same upstream, its own connection pool: a reset on a kept-alive connection is resent
        // once on a new one (the keep-alive close race), which a pool with no idle connection
        // never does, so the reset case counts exactly one GET per attempt.
        'up-fresh': { ...generic, base_url: `${upstream.url}/up` },
        flaky: {
          ...generic,
          base_url: `${flaky.url}/flaky`,
          mutable_patterns: ['.*\\.idx$'],
          mutable_ttl: 1,
        },
        reg: {
          package: 'docker',
          base_url: `${upstream.url}/reg`,
          upstream_timeout: 2,
          ...noBreaker,
        },
      },
    });
  });

  afterAll(async () => {
    await queue.close();
    await stack?.stop();
    await Promise.all([upstream.stop(), flaky.stop()]);
    book.print();
  });

  it('refuses: hits and an expired index are served, a cold miss is 502 at once and retried; it works once the upstream is back', async () => {
    await book.together(async () => {
      const hitSize = 256 * KiB;
      flaky.set('flaky/cached.bin', { size: hitSize });
      flaky.set('flaky/index.idx', { body: 'index v1' });
      flaky.set('flaky/cold.bin', { size: hitSize });
      expectServed(
        await ask(file('flaky', 'cached.bin'), { withinMs: FAST_MS }),
        generatedSha256(hitSize),
      );
      expectServed(await ask(file('flaky', 'index.idx'), { withinMs: FAST_MS }), hex('index v1'));
      const redis = stack.redis();
      try {
        await waitFor(
          async () => (await redis.exists(cacheKey('fresh', 'flaky', 'index.idx'))) === 0,
          {
            description: 'the index to expire (mutable_ttl 1)',
            timeoutMs: 10_000,
          },
        );
      } finally {
        redis.disconnect();
      }
      await flaky.stop();
      const fault = 'upstream refuses connections';

      const hit = await ask(file('flaky', 'cached.bin'), { withinMs: FAST_MS });
      book.check({ case: 'hit', fault, must: '200 from cache, right sha256' }, hit, () => {
        expectServed(hit, generatedSha256(hitSize));
        expect(hit.headers['x-artifact-source']).toBe('cache');
      });
      const stale = await ask(file('flaky', 'index.idx'), { withinMs: FAST_MS });
      book.check({ case: 'expired index', fault, must: '200 stale, right sha256' }, stale, () => {
        expectServed(stale, hex('index v1'));
        expect(stale.headers['x-artifact-source']).toBe('stale');
      });
      const miss = await ask(file('flaky', 'cold.bin'), { withinMs: FAST_MS });
      const job = await queue.settle('flaky', 'cold.bin');
      book.check(
        { case: 'cold miss', fault, must: '502 upstream_unavailable + Retry-After; 3 attempts' },
        miss,
        () => {
          expectApiError(miss, 502, 'upstream_unavailable', { retryAfter: true });
          expect(job?.attemptsMade).toBe(FETCH_ATTEMPTS);
        },
      );
      expect(flaky.count('flaky/cold.bin')).toBe(0);

      await flaky.start(flaky.port);
      const back = await ask(file('flaky', 'cold.bin'), { withinMs: FAST_MS });
      book.check(
        { case: 'miss after recovery', fault: 'upstream back', must: '200, 1 GET' },
        back,
        () => {
          expectServed(back, generatedSha256(hitSize));
        },
      );
      expect(await queue.settle('flaky', 'cold.bin')).toBeNull();
      expect(flaky.count('flaky/cold.bin')).toBe(1);
      expect(flaky.count('flaky/cached.bin')).toBe(1);
    });
  });

  /**
   * Transient failures: the waiting client gets the first attempt's error at once (the upstream
   * had one GET when it answered), the queue makes 3 attempts, and nothing is published.
   */
  const TRANSIENT: Array<{
    title: string;
    path: string;
    knobs: UpstreamFile;
    withinMs: number;
    fault: string;
    must: string;
    expectAnswer: (answer: Answer) => void;
    /** the real file's size: served afterwards to show that nothing was published */
    size?: number;
    /** the remote asked through (default `up`) */
    remote?: string;
  }> = [
    {
      title: 'hangs before its headers: 504 after upstream_timeout',
      path: 'hang.bin',
      knobs: { hang: true },
      withinMs: TIMEOUT_MS,
      fault: 'no headers within upstream_timeout',
      must: '504 after the 1st attempt; 3 GETs',
      expectAnswer: (answer) => expectApiError(answer, 504, null),
    },
    {
      title: 'stalls mid-body past upstream_timeout: a broken transfer, nothing published',
      path: 'stall.bin',
      knobs: { size: 1 * MiB, stallAfter: 256 * KiB },
      withinMs: TIMEOUT_MS,
      fault: 'silent mid-body',
      must: 'broken transfer after the 1st attempt; 3 GETs',
      expectAnswer: (answer) => expectBroken(answer, 1 * MiB),
      size: 1 * MiB,
    },
    {
      title: 'resets before its headers: 502 with Retry-After',
      path: 'reset.bin',
      knobs: { reset: true },
      remote: 'up-fresh',
      withinMs: FAST_MS,
      fault: 'connection reset',
      must: '502 + Retry-After after the 1st attempt; 3 GETs',
      expectAnswer: (answer) =>
        expectApiError(answer, 502, 'upstream_unavailable', { retryAfter: true }),
    },
    {
      title: 'truncates the body: never a complete 200, nothing published',
      path: 'short.bin',
      knobs: { size: 1 * MiB, truncateAt: 300 * KiB },
      withinMs: FAST_MS,
      fault: 'body cut short',
      must: 'broken (or 502 + Retry-After); 3 GETs',
      expectAnswer: (answer) => expectNotServed(answer, 1 * MiB),
      size: 1 * MiB,
    },
    {
      title: 'answers 503: 502 upstream_unavailable with Retry-After',
      path: 'busy.bin',
      knobs: { status: 503 },
      withinMs: FAST_MS,
      fault: 'upstream 503',
      must: '502 + Retry-After after the 1st attempt; 3 GETs',
      expectAnswer: (answer) =>
        expectApiError(answer, 502, 'upstream_unavailable', { retryAfter: true }),
    },
  ];

  it.each(TRANSIENT)(
    '$title; the first attempt answers at once, 3 attempts',
    async ({ path, knobs, withinMs, fault, must, expectAnswer, size, remote = 'up' }) => {
      upstream.set(`up/${path}`, knobs);
      const answer = await ask(file(remote, path), { withinMs });
      const getsAtAnswer = upstream.count(`up/${path}`);
      const job = await queue.settle(remote, path);
      book.check({ case: 'cold miss', fault, must }, answer, () => {
        expectAnswer(answer);
        expect(getsAtAnswer).toBe(1);
        expect(job?.attemptsMade).toBe(FETCH_ATTEMPTS);
        expect(upstream.count(`up/${path}`)).toBe(FETCH_ATTEMPTS);
      });
      if (size !== undefined) {
        await expectFetchedAfresh(remote, path, size, FETCH_ATTEMPTS);
      }
    },
  );

  it('answers 429 with Retry-After: 503 with that Retry-After (capped at 3600), TOOMANYREQUESTS on /v2, never retried', async () => {
    await book.together(async () => {
      const fault = 'upstream 429 + Retry-After';
      upstream.set('up/limited.bin', { rateLimited: { retryAfter: 7 } });
      upstream.set('up/limited-long.bin', { rateLimited: { retryAfter: 99_999 } });
      const blob = Buffer.from('a layer that is rate limited');
      const blobPath = `reg/v2/team/app/blobs/sha256:${hex(blob)}`;
      upstream.set(blobPath, { rateLimited: { retryAfter: 11 } });

      const limited = await ask(file('up', 'limited.bin'), { withinMs: FAST_MS });
      const long = await ask(file('up', 'limited-long.bin'), { withinMs: FAST_MS });
      const v2 = await ask(`${stack.url()}/v2/reg/team/app/blobs/sha256:${hex(blob)}`, {
        withinMs: FAST_MS,
      });
      const jobs = await Promise.all([
        queue.settle('up', 'limited.bin'),
        queue.settle('up', 'limited-long.bin'),
        queue.settle('reg', `team/app/blobs/sha256:${hex(blob)}`),
      ]);
      book.check(
        { case: 'Retry-After: 7', fault, must: '503, Retry-After 7, 1 GET' },
        limited,
        () => {
          expect(expectApiError(limited, 503, null, { retryAfter: true })).toBe(7);
          expect(jobs[0]?.attemptsMade).toBe(1);
          expect(upstream.count('up/limited.bin')).toBe(1);
        },
      );
      book.check(
        { case: 'Retry-After: 99999', fault, must: '503, Retry-After 3600, 1 GET' },
        long,
        () => {
          expect(expectApiError(long, 503, null, { retryAfter: true })).toBe(3600);
          expect(jobs[1]?.attemptsMade).toBe(1);
          expect(upstream.count('up/limited-long.bin')).toBe(1);
        },
      );
      book.check(
        { case: '/v2 blob', fault, must: '503 TOOMANYREQUESTS, Retry-After 11, 1 GET' },
        v2,
        () => {
          expect(expectRegistryError(v2, 503, 'TOOMANYREQUESTS', { retryAfter: true })).toBe(11);
          expect(jobs[2]?.attemptsMade).toBe(1);
          expect(upstream.count(blobPath)).toBe(1);
        },
      );

      // Not remembered as missing: once the upstream lets us, the next request fetches.
      upstream.set('up/limited.bin', { size: 64 * KiB });
      expectServed(
        await ask(file('up', 'limited.bin'), { withinMs: FAST_MS }),
        generatedSha256(64 * KiB),
      );
      expect(upstream.count('up/limited.bin')).toBe(2);
    });
  });

  it('answers 404: 404 at once, not retried, remembered for negative_ttl', async () => {
    const first = await ask(file('up', 'nope.bin'), { withinMs: FAST_MS });
    const job = await queue.settle('up', 'nope.bin');
    const second = await ask(file('up', 'nope.bin'), { withinMs: FAST_MS });
    book.check(
      { case: 'cold miss', fault: 'upstream 404', must: '404 twice, 1 GET' },
      first,
      () => {
        expectApiError(first, 404, 'upstream_not_found');
        expectApiError(second, 404, 'upstream_not_found');
        expect(job?.attemptsMade).toBe(1);
        expect(upstream.count('up/nope.bin')).toBe(1);
      },
    );
  });

  it('answers another 4xx (403): an error at once, not retried', async () => {
    upstream.set('up/denied.bin', { status: 403 });
    const answer = await ask(file('up', 'denied.bin'), { withinMs: FAST_MS });
    const job = await queue.settle('up', 'denied.bin');
    book.check(
      { case: 'cold miss', fault: 'upstream 403', must: '502 upstream_unavailable, 1 GET' },
      answer,
      () => {
        expectApiError(answer, 502, 'upstream_unavailable');
        expect(job?.attemptsMade).toBe(1);
        expect(upstream.count('up/denied.bin')).toBe(1);
      },
    );
  });

  /**
   * The docker remote again, on a gateway that takes in-flight bytes over HTTP (as one on another
   * host than the fetcher does) instead of reading the fetcher's spool file.
   */
  describe('a blob that does not match its digest', () => {
    let overHttp: Stack;
    const httpQueue = new QueueProbe(() => overHttp.redisUrl);

    beforeAll(async () => {
      overHttp = await Stack.start({
        remotes: {
          reg: { package: 'docker', base_url: `${upstream.url}/reg`, upstream_timeout: 2 },
        },
        env: { SPOOL_DIRECT_READ: 'false' },
      });
    });

    afterAll(async () => {
      await httpQueue.close();
      await overHttp?.stop();
    });

    const paths = [
      ['the spool file', () => ({ url: stack.url(), queue })],
      ['HTTP', () => ({ url: overHttp.url(), queue: httpQueue })],
    ] as const;

    /** `sent` under the digest of `asked`, through `via`; one GET, not retried. */
    async function blobWithWrongDigest(
      via: (typeof paths)[number],
      asked: Buffer,
      sent: Buffer,
      expected: { case: string; must: string },
      expectAnswer: (answer: Answer) => void,
    ): Promise<void> {
      const { url, queue: jobs } = via[1]();
      // Each case its own blob: both gateways' fetches count their GETs apart.
      const digest = hex(Buffer.concat([asked, Buffer.from(via[0])]));
      const path = `reg/v2/team/app/blobs/sha256:${digest}`;
      upstream.set(path, { body: sent });
      const answer = await ask(`${url}/v2/reg/team/app/blobs/sha256:${digest}`, {
        withinMs: FAST_MS,
      });
      const job = await jobs.settle('reg', `team/app/blobs/sha256:${digest}`);
      const label = `${expected.case}, bytes via ${via[0]}`;
      book.check({ ...expected, case: label, fault: 'digest mismatch' }, answer, () => {
        expectAnswer(answer);
        expect(job?.attemptsMade).toBe(1);
        expect(upstream.count(path)).toBe(1);
      });
    }

    it.each(paths)('via %s: never served whole, not retried', async (...via) => {
      const sent = Buffer.from('other bytes than the digest names');
      await blobWithWrongDigest(
        via,
        Buffer.from('the layer the manifest names'),
        sent,
        { case: '/v2 blob', must: 'broken or 502, 1 GET' },
        (answer) => {
          if (answer.status === 200) {
            expectBroken(answer, sent.length);
          } else {
            expectRegistryError(answer, 502, 'DIGEST_INVALID');
          }
        },
      );
    });

    it.each(paths)(
      'of one byte, via %s: 502 DIGEST_INVALID, not a body that breaks',
      async (...via) => {
        // Its one byte is the held-back byte: nothing can be streamed before the check fails, so
        // the waiter answers the fetch's own failure.
        await blobWithWrongDigest(
          via,
          Buffer.from('a'),
          Buffer.from('b'),
          { case: '/v2 blob of 1 byte', must: '502 DIGEST_INVALID, 1 GET' },
          (answer) => expectRegistryError(answer, 502, 'DIGEST_INVALID'),
        );
      },
    );
  });

  /**
   * After a failed fetch the artifact must not be in the cache: fixed upstream, the next request
   * is a fresh fetch (source remote, one more GET), then a hit.
   */
  async function expectFetchedAfresh(remote: string, path: string, size: number, before: number) {
    upstream.set(`${remote}/${path}`, { size });
    const again = await ask(file(remote, path), { withinMs: FAST_MS });
    expectServed(again, generatedSha256(size), size);
    expect(again.headers['x-artifact-source']).toBe('remote');
    expect(upstream.count(`${remote}/${path}`)).toBe(before + 1);
  }

  describe('the token service is down', () => {
    const registry = new UpstreamServer();
    const tokens = new UpstreamServer();
    let docker: Stack;
    const v2 = (path: string) => `${docker.url()}/v2/tok/${path}`;
    const tokenQueue = new QueueProbe(() => docker.redisUrl);
    const layer = Buffer.from('layer bytes behind a token');
    const otherLayer = Buffer.from('a layer of another repository, never fetched before');
    let manifest: Buffer;

    beforeAll(async () => {
      await Promise.all([registry.start(), tokens.start()]);
      tokens.set('token', {
        body: JSON.stringify({ token: 'tok-1', expires_in: 300 }),
        contentType: 'application/json',
      });
      const challenge = `Bearer realm="${tokens.url}/token",service="registry.test"`;
      const auth = { expect: 'Bearer tok-1', challenge };
      manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: `sha256:${hex('{}')}`,
            size: 2,
          },
          layers: [
            {
              mediaType: 'application/vnd.oci.image.layer.v1.tar',
              digest: `sha256:${hex(layer)}`,
              size: layer.length,
            },
          ],
        }),
      );
      const doc = {
        body: manifest,
        contentType: OCI_MANIFEST,
        headers: { 'docker-content-digest': `sha256:${hex(manifest)}` },
        auth,
      };
      registry.set('tok/v2/team/app/manifests/v1', doc);
      registry.set(`tok/v2/team/app/manifests/sha256:${hex(manifest)}`, doc);
      registry.set(`tok/v2/team/app/blobs/sha256:${hex(layer)}`, { body: layer, auth });
      registry.set(`tok/v2/team/other/blobs/sha256:${hex(otherLayer)}`, { body: otherLayer, auth });
      docker = await Stack.start({
        remotes: {
          tok: {
            package: 'docker',
            base_url: `${registry.url}/tok`,
            upstream_timeout: UPSTREAM_TIMEOUT,
          },
        },
      });
    });

    afterAll(async () => {
      await tokenQueue.close();
      await docker?.stop();
      await Promise.all([registry.stop(), tokens.stop()]);
    });

    it('cached manifests and blobs are still served; a cold miss needing a new token is 502 with Retry-After; it works once the token service is back', async () => {
      await book.together(async () => {
        for (const [path, body] of [
          ['team/app/manifests/v1', manifest],
          [`team/app/manifests/sha256:${hex(manifest)}`, manifest],
          [`team/app/blobs/sha256:${hex(layer)}`, layer],
        ] as const) {
          expectServed(await ask(v2(path), { withinMs: FAST_MS }), hex(body));
        }
        expect(tokens.count('token')).toBeGreaterThan(0);
        await tokens.stop();
        const fault = 'token service down';

        for (const [name, path, body] of [
          ['tag (fresh)', 'team/app/manifests/v1', manifest],
          ['manifest by digest', `team/app/manifests/sha256:${hex(manifest)}`, manifest],
          ['blob', `team/app/blobs/sha256:${hex(layer)}`, layer],
        ] as const) {
          const answer = await ask(v2(path), { withinMs: FAST_MS });
          book.check({ case: `cached ${name}`, fault, must: '200, right sha256' }, answer, () => {
            expectServed(answer, hex(body));
          });
        }
        const coldPath = `tok/v2/team/other/blobs/sha256:${hex(otherLayer)}`;
        const cold = await ask(v2(`team/other/blobs/sha256:${hex(otherLayer)}`), {
          withinMs: FAST_MS,
        });
        const job = await tokenQueue.settle('tok', `team/other/blobs/sha256:${hex(otherLayer)}`);
        const servedWithToken = () =>
          registry.requests.filter(
            (r) => r.path === coldPath && r.headers.authorization === 'Bearer tok-1',
          ).length;
        book.check(
          {
            case: 'cold blob, new scope',
            fault,
            must: '502 UNAVAILABLE + Retry-After; no blob GET with a token',
          },
          cold,
          () => {
            expectRegistryError(cold, 502, 'UNAVAILABLE', { retryAfter: true });
            expect(job?.attemptsMade).toBe(FETCH_ATTEMPTS);
            expect(servedWithToken()).toBe(0);
          },
        );

        await tokens.start(tokens.port);
        const back = await ask(v2(`team/other/blobs/sha256:${hex(otherLayer)}`), {
          withinMs: FAST_MS,
        });
        book.check(
          { case: 'cold blob', fault: 'token service back', must: '200, 1 GET with a token' },
          back,
          () => {
            expectServed(back, hex(otherLayer));
            expect(servedWithToken()).toBe(1);
          },
        );
      });
    });
  });
});
