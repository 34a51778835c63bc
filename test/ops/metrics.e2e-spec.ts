import { request } from '../helpers/http';
import { metricReaching, metricValue } from '../helpers/prometheus-text';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';

/** docs/METRICS.md: the counters of both apps move on hits, misses, stale serves, revalidations, failures. */
describe('Prometheus metrics of the gateway and the fetcher', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let api: string;

  const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
  const gateway = () => scrape(stack.url());
  const fetcher = () => scrape(stack.fetchers[0].url);

  const reached = (
    source: () => Promise<string>,
    name: string,
    labels: Record<string, string>,
    atLeast: number,
  ) => metricReaching([source], name, labels, atLeast);

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        // No circuit breaker: a 429 below would take the remote offline (test/offline.e2e-spec.ts).
        files: { package: 'generic', base_url: `${upstream.url}/files`, circuit: { failures: 0 } },
        index: {
          package: 'generic',
          base_url: `${upstream.url}/index`,
          mutable_patterns: ['.*\\.json$'],
          mutable_ttl: 1,
          check_mutable_updates: true,
        },
      },
    });
    api = `${stack.url()}/api/v1/remote`;
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('a miss, then a hit', async () => {
    upstream.set('files/secret-name-1.bin', { body: 'x'.repeat(1000) });
    await request(`${api}/files/secret-name-1.bin`);
    await request(`${api}/files/secret-name-1.bin`);
    const route = { remote: 'files', route: 'artifact' };
    expect(await reached(gateway, 'artifactcache_request_duration_seconds_count', route, 2)).toBe(
      2,
    );
    const g = await gateway();
    expect(metricValue(g, 'artifactcache_cache_misses_total', { remote: 'files' })).toBe(1);
    expect(metricValue(g, 'artifactcache_cache_hits_total', { remote: 'files' })).toBe(1);
    expect(
      metricValue(g, 'artifactcache_requests_total', { ...route, source: 'cache', status: '2xx' }),
    ).toBe(1);
    expect(
      metricValue(g, 'artifactcache_requests_total', { ...route, source: 'remote', status: '2xx' }),
    ).toBe(1);
    expect(
      metricValue(g, 'artifactcache_served_bytes_total', { remote: 'files', source: 'cache' }),
    ).toBe(1000);
    expect(
      await reached(fetcher, 'artifactcache_fetched_bytes_total', { remote: 'files' }, 1000),
    ).toBe(1000);
    expect(
      await reached(
        fetcher,
        'artifactcache_fetch_duration_seconds_count',
        { remote: 'files', outcome: 'stored' },
        1,
      ),
    ).toBe(1);
  });

  it('labels stay bounded: no path, no file name', async () => {
    expect(await gateway()).not.toContain('secret-name-1');
    expect(await fetcher()).not.toContain('secret-name-1');
    await request(`${api}/no-such-remote/x`);
    expect(
      await reached(gateway, 'artifactcache_requests_total', { remote: '-', status: '4xx' }, 1),
    ).toBe(1);
  });

  it('a failed fetch', async () => {
    await request(`${api}/files/absent.bin`);
    const failures = { remote: 'files', reason: 'upstream_not_found' };
    expect(await reached(fetcher, 'artifactcache_fetch_failures_total', failures, 1)).toBe(1);
  });

  it('revalidations: unchanged, changed, unreachable (and the stale serve)', async () => {
    upstream.set('index/meta.json', { body: '{"v":1}', etag: '"1"' });
    await request(`${api}/index/meta.json`);
    const revalidationsReach = async (result: string) => {
      await request(`${api}/index/meta.json`);
      return (
        metricValue(await fetcher(), 'artifactcache_revalidations_total', {
          remote: 'index',
          result,
        }) >= 1
      );
    };
    const poll = { timeoutMs: 10_000, intervalMs: 300 };

    await waitFor(() => revalidationsReach('unchanged'), {
      description: 'an unchanged revalidation',
      ...poll,
    });
    upstream.set('index/meta.json', { body: '{"v":2}', etag: '"2"' });
    await waitFor(() => revalidationsReach('changed'), {
      description: 'a changed revalidation',
      ...poll,
    });
    upstream.set('index/meta.json', { status: 503 });
    await waitFor(() => revalidationsReach('unreachable'), {
      description: 'an unreachable revalidation',
      ...poll,
    });

    expect(
      await reached(gateway, 'artifactcache_stale_served_total', { remote: 'index' }, 1),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await reached(
        gateway,
        'artifactcache_requests_total',
        { remote: 'index', source: 'stale' },
        1,
      ),
    ).toBeGreaterThanOrEqual(1);
  });

  it('exports queue depth by state and the default process metrics, in both apps', async () => {
    // Refreshed every few seconds; the failed 404 job above must show up.
    const f = await waitFor(
      async () => {
        const text = await fetcher();
        return metricValue(text, 'artifactcache_queue_jobs', { state: 'failed' }) >= 1
          ? text
          : null;
      },
      { description: 'the queue depth gauge', timeoutMs: 15_000, intervalMs: 500 },
    );
    expect(f).toContain('artifactcache_queue_jobs{state="waiting"}');
    expect(f).toContain('artifactcache_queue_jobs{state="stalled"}');
    expect(f).toContain('process_resident_memory_bytes');
    expect(await gateway()).toContain('nodejs_eventloop_lag_seconds');
  });

  it("counts upstream requests and reads the upstream's rate-limit budget", async () => {
    upstream.set('files/budget.bin', {
      body: 'y'.repeat(10),
      headers: { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '42;w=21600' },
    });
    await request(`${api}/files/budget.bin`);
    const ok = { remote: 'files', method: 'GET', status: '2xx' };
    await reached(fetcher, 'artifactcache_upstream_requests_total', ok, 1);
    const seen = await fetcher();
    expect(metricValue(seen, 'artifactcache_upstream_ratelimit_limit', { remote: 'files' })).toBe(
      100,
    );
    expect(
      metricValue(seen, 'artifactcache_upstream_ratelimit_remaining', { remote: 'files' }),
    ).toBe(42);

    const refused = { remote: 'files', method: 'GET', status: '4xx' };
    const refusedBefore = metricValue(
      await fetcher(),
      'artifactcache_upstream_requests_total',
      refused,
    );
    upstream.set('files/limited.bin', { rateLimited: { retryAfter: 7, limit: 100 } });
    expect((await request(`${api}/files/limited.bin`)).status).toBe(503);
    expect(
      await reached(fetcher, 'artifactcache_upstream_requests_total', refused, refusedBefore + 1),
    ).toBe(refusedBefore + 1);
    expect(
      metricValue(await fetcher(), 'artifactcache_upstream_ratelimit_remaining', {
        remote: 'files',
      }),
    ).toBe(0);
    // A HEAD of a miss is the gateway's own upstream request.
    await request(`${api}/files/budget-head.bin`, { method: 'HEAD' });
    expect(
      await reached(
        gateway,
        'artifactcache_upstream_requests_total',
        { remote: 'files', method: 'HEAD', status: '4xx' },
        1,
      ),
    ).toBe(1);
  });
});
