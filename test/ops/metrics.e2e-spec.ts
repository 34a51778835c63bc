import { request } from '../helpers/http';
import { metricValue } from '../helpers/prometheus-text';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';
import { waitFor } from '../helpers/wait-for';

/** SPEC §6: the counters of both apps move on hits, misses, stale serves, revalidations, failures. */
describe('Prometheus metrics of the gateway and the fetcher', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let api: string;

  const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
  const gateway = () => scrape(stack.url());
  const fetcher = () => scrape(stack.fetchers[0].url);

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files` },
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
    const g = await gateway();
    expect(metricValue(g, 'artifactcache_cache_misses_total', { remote: 'files' })).toBe(1);
    expect(metricValue(g, 'artifactcache_cache_hits_total', { remote: 'files' })).toBe(1);
    expect(
      metricValue(g, 'artifactcache_requests_total', {
        remote: 'files',
        route: 'artifact',
        source: 'cache',
        status: '2xx',
      }),
    ).toBe(1);
    expect(
      metricValue(g, 'artifactcache_requests_total', { remote: 'files', source: 'remote' }),
    ).toBe(1);
    expect(
      metricValue(g, 'artifactcache_served_bytes_total', { remote: 'files', source: 'cache' }),
    ).toBe(1000);
    expect(
      metricValue(g, 'artifactcache_request_duration_seconds_count', {
        remote: 'files',
        route: 'artifact',
      }),
    ).toBe(2);
    const f = await fetcher();
    expect(metricValue(f, 'artifactcache_fetched_bytes_total', { remote: 'files' })).toBe(1000);
    expect(
      metricValue(f, 'artifactcache_fetch_duration_seconds_count', {
        remote: 'files',
        outcome: 'stored',
      }),
    ).toBe(1);
  });

  it('labels stay bounded: no path, no file name', async () => {
    expect(await gateway()).not.toContain('secret-name-1');
    expect(await fetcher()).not.toContain('secret-name-1');
    await request(`${api}/no-such-remote/x`);
    expect(
      metricValue(await gateway(), 'artifactcache_requests_total', { remote: '-', status: '4xx' }),
    ).toBe(1);
  });

  it('a failed fetch', async () => {
    await request(`${api}/files/absent.bin`);
    expect(
      metricValue(await fetcher(), 'artifactcache_fetch_failures_total', {
        remote: 'files',
        reason: 'upstream_not_found',
      }),
    ).toBe(1);
  });

  it('revalidations: unchanged, changed, unreachable (and the stale serve)', async () => {
    upstream.set('index/meta.json', { body: '{"v":1}', etag: '"1"' });
    await request(`${api}/index/meta.json`);
    const revalidations = async (result: string) =>
      metricValue(await fetcher(), 'artifactcache_revalidations_total', {
        remote: 'index',
        result,
      });

    await waitFor(
      async () => {
        await request(`${api}/index/meta.json`);
        return (await revalidations('unchanged')) >= 1;
      },
      { description: 'an unchanged revalidation', timeoutMs: 10_000, intervalMs: 300 },
    );

    upstream.set('index/meta.json', { body: '{"v":2}', etag: '"2"' });
    await waitFor(
      async () => {
        await request(`${api}/index/meta.json`);
        return (await revalidations('changed')) >= 1;
      },
      { description: 'a changed revalidation', timeoutMs: 10_000, intervalMs: 300 },
    );

    upstream.set('index/meta.json', { status: 503 });
    await waitFor(
      async () => {
        await request(`${api}/index/meta.json`);
        return (await revalidations('unreachable')) >= 1;
      },
      { description: 'an unreachable revalidation', timeoutMs: 10_000, intervalMs: 300 },
    );
    expect(
      metricValue(await gateway(), 'artifactcache_stale_served_total', { remote: 'index' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(await gateway(), 'artifactcache_requests_total', {
        remote: 'index',
        source: 'stale',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('exports queue depth by state and the default process metrics, in both apps', async () => {
    const f = await waitFor(
      async () => {
        const text = await fetcher();
        // Refreshed every few seconds; the failed 404 job above must show up.
        return metricValue(text, 'artifactcache_queue_jobs', { state: 'failed' }) >= 1
          ? text
          : null;
      },
      { description: 'the queue depth gauge', timeoutMs: 15_000, intervalMs: 500 },
    );
    expect(metricValue(f, 'artifactcache_queue_jobs', { state: 'failed' })).toBeGreaterThanOrEqual(
      1,
    );
    expect(f).toContain('process_resident_memory_bytes');
    expect(await gateway()).toContain('nodejs_eventloop_lag_seconds');
  });
});
