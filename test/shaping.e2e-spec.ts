import { createHash } from 'node:crypto';
import { download, request } from './helpers/http';
import { metricReaching } from './helpers/prometheus-text';
import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';

const MiB = 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const TOKEN = 'shaping-admin-token';

/**
 * docs/CACHING.md "Request shaping" (issue 17, items 3 and 4), with every upstream request
 * counted on the upstream itself: a budget and a concurrency limit that every replica shares, a
 * tag's last check answering the next revalidations, and the requests hits and coalescing saved.
 */
describe('request shaping: what the upstream is spared', () => {
  const upstream = new UpstreamServer();
  const narrowUpstream = new UpstreamServer();
  let stack: Stack;
  const file = (gateway: number, remote: string, path: string) =>
    request(`${stack.url(gateway)}/api/v1/remote/${remote}/${path}`);
  const scrape = (url: string) => async () => (await fetch(`${url}/metrics`)).text();
  const gateways = () => [0, 1].map((i) => scrape(stack.url(i)));
  const fetchers = () => stack.fetchers.map((fetcher) => scrape(fetcher.url));

  beforeAll(async () => {
    await Promise.all([upstream.start(), narrowUpstream.start()]);
    stack = await Stack.start({
      remotes: {
        // 2 a minute: one token every 30 s, so the test never sees a refill.
        budget: {
          package: 'generic',
          base_url: `${upstream.url}/budget`,
          mutable_patterns: ['.*\\.json$'],
          mutable_ttl: 1,
          upstream_timeout: 2,
          max_requests_per_minute: 2,
        },
        narrow: {
          package: 'generic',
          base_url: `${narrowUpstream.url}/narrow`,
          upstream_timeout: 20,
          max_concurrent: 2,
        },
        files: { package: 'generic', base_url: `${upstream.url}/files` },
        hub: {
          package: 'docker',
          base_url: `${upstream.url}/hub`,
          mutable_ttl: 0,
          tag_check_window: 30,
        },
        brief: {
          package: 'docker',
          base_url: `${upstream.url}/brief`,
          mutable_ttl: 0,
          tag_check_window: 1,
        },
      },
      gateways: 2,
      fetchers: 2,
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await Promise.all([upstream.stop(), narrowUpstream.stop()]);
  });

  it('keeps every replica together within max_requests_per_minute: misses get 503 with Retry-After, an expired file is served stale', async () => {
    upstream.set('budget/index.json', { body: '{"v":1}' });
    const paths = Array.from({ length: 6 }, (_, i) => `pkg-${i}.bin`);
    for (const path of paths) {
      upstream.set(`budget/${path}`, { body: `${path} bytes` });
    }
    expect((await file(0, 'budget', 'index.json')).status).toBe(200);

    const answers = await Promise.all(paths.map((path, i) => file(i % 2, 'budget', path)));
    const sent = paths.filter((path) => upstream.count(`budget/${path}`) > 0);
    // One token was left after index.json: one miss went upstream, on whichever replica.
    expect(sent).toHaveLength(1);
    const refused = answers.filter((answer) => answer.status === 503);
    expect(refused).toHaveLength(5);
    for (const answer of refused) {
      const retryAfter = Number(answer.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(30);
      expect(JSON.parse(answer.body.toString())).toMatchObject({
        error: 'upstream_rate_limited',
        message: expect.stringContaining('budget of 2 upstream requests a minute is spent'),
      });
    }

    // Expired after its 1 s TTL: the revalidation finds no token and serves the copy, at once.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const expired = await file(1, 'budget', 'index.json');
    expect(expired.status).toBe(200);
    expect(expired.headers['x-artifact-source']).toBe('stale');
    expect(expired.body.toString()).toBe('{"v":1}');
    expect(upstream.count('budget/index.json')).toBe(1);
    expect(upstream.count('budget/index.json', 'HEAD')).toBe(0);

    expect(
      await metricReaching(
        fetchers(),
        'artifactcache_upstream_throttled_total',
        { remote: 'budget', limit: 'max_requests_per_minute' },
        6,
      ),
    ).toBe(6);
    // Our own limit is not the upstream failing: the breaker stays shut.
    const remotes = await request(`${stack.url(0)}/admin/api/remotes`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const listed = JSON.parse(remotes.body.toString()) as {
      remotes: Array<{ remote: string; state: string }>;
    };
    expect(listed.remotes.find((remote) => remote.remote === 'budget')?.state).toBe('online');
    const stale = await metricReaching(
      gateways(),
      'artifactcache_stale_served_total',
      { remote: 'budget', reason: 'throttled' },
      1,
    );
    expect(stale).toBe(1);
  });

  it('holds every replica together to max_concurrent open upstream requests; the rest wait their turn', async () => {
    const paths = Array.from({ length: 6 }, (_, i) => `wide-${i}.bin`);
    for (const path of paths) {
      narrowUpstream.set(`narrow/${path}`, { size: MiB, rate: 4 * MiB });
    }
    const results = await Promise.all(
      paths.map((path, i) =>
        download(`${stack.url(i % 2)}/api/v1/remote/narrow/${path}`, undefined, { hash: false }),
      ),
    );
    for (const result of results) {
      expect(result).toMatchObject({ status: 200, size: MiB, complete: true });
    }
    expect(narrowUpstream.open.peak).toBe(2);
    for (const path of paths) {
      expect(narrowUpstream.count(`narrow/${path}`)).toBe(1);
    }
    expect(
      await metricReaching(
        fetchers(),
        'artifactcache_upstream_throttled_total',
        { remote: 'narrow', limit: 'max_concurrent' },
        1,
      ),
    ).toBeGreaterThanOrEqual(1);
  });

  it('answers revalidations of a tag within tag_check_window from its last check, on every replica', async () => {
    const manifest = publishTag('hub', 'library/app', 'latest');
    const pull = (gateway: number) =>
      request(`${stack.url(gateway)}/v2/hub/library/app/manifests/latest`, {
        headers: { accept: OCI_MANIFEST },
      });
    for (let i = 0; i < 6; i += 1) {
      const answer = await pull(i % 2);
      expect(answer.status).toBe(200);
      expect(answer.body.equals(manifest)).toBe(true);
    }
    // mutable_ttl 0 revalidates every pull; the first pull's GET answered all five.
    expect(upstream.count('hub/v2/library/app/manifests/latest')).toBe(1);
    expect(upstream.count('hub/v2/library/app/manifests/latest', 'HEAD')).toBe(0);
    expect(
      await metricReaching(
        fetchers(),
        'artifactcache_upstream_requests_saved_total',
        { remote: 'hub', reason: 'tag_check' },
        5,
      ),
    ).toBe(5);
  });

  it('asks the upstream again once the window has passed', async () => {
    publishTag('brief', 'library/app', 'v1');
    const pull = () =>
      request(`${stack.url(0)}/v2/brief/library/app/manifests/v1`, {
        headers: { accept: OCI_MANIFEST },
      });
    expect((await pull()).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect((await pull()).status).toBe(200);
    expect(upstream.count('brief/v2/library/app/manifests/v1')).toBe(1);
    expect(upstream.count('brief/v2/library/app/manifests/v1', 'HEAD')).toBe(1);
  });

  it('counts the upstream requests that hits and coalesced waiters saved', async () => {
    upstream.set('files/shared.bin', { size: 2 * MiB, rate: 4 * MiB });
    const before = await savedOf('coalesced');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        download(`${stack.url(i % 2)}/api/v1/remote/files/shared.bin`, undefined, {
          hash: false,
        }),
      ),
    );
    for (const result of results) {
      expect(result).toMatchObject({ status: 200, size: 2 * MiB, complete: true });
    }
    expect(upstream.count('files/shared.bin')).toBe(1);
    // Every request but the one that added the job followed it (at most one per gateway may
    // have added it, the other finding the job its own add created).
    expect((await savedOf('coalesced')) - before).toBeGreaterThanOrEqual(8);

    const hitsBefore = await savedOf('hit');
    expect((await file(0, 'files', 'shared.bin')).headers['x-artifact-source']).toBe('cache');
    expect(
      await metricReaching(
        gateways(),
        'artifactcache_upstream_requests_saved_total',
        { remote: 'files', reason: 'hit' },
        hitsBefore + 1,
      ),
    ).toBe(hitsBefore + 1);
  });

  function savedOf(reason: string): Promise<number> {
    return metricReaching(
      gateways(),
      'artifactcache_upstream_requests_saved_total',
      { remote: 'files', reason },
      0,
    );
  }

  /** Publishes a one-layer image manifest under its tag on the fake registry. */
  function publishTag(remote: string, image: string, tag: string): Buffer {
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], tag }),
    );
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    upstream.set(`${remote}/v2/${image}/manifests/${tag}`, {
      body: bytes,
      contentType: OCI_MANIFEST,
      headers: { 'docker-content-digest': digest },
    });
    return bytes;
  }
});
