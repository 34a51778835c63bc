import { cacheKey } from '@app/cache';
import { Stack } from './helpers/stack';
import { UpstreamServer, generatedSlice } from './helpers/upstream-server';
import { rawRequest, request, sha256Of } from './helpers/http';
import { waitFor } from '../tools/wait-for';
import { QueueProbe } from './faults/fault-services';

/** A mutable_ttl no test outlives. */
const LONG_TTL = 3600;

/**
 * GET/HEAD /api/v1/remote/{remote}/{path} against real Redis, Postgres, storage, a real fetcher
 * and a real upstream: the generic-route cases of the original service's suite, and docs/HTTP-API.md and docs/CACHING.md.
 */
const MiB = 1024 * 1024;

describe('pull-through route /api/v1/remote', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let api: string;
  const queue = new QueueProbe(() => stack.redisUrl);

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        'generic-test': {
          package: 'generic',
          base_url: `${upstream.url}/generic`,
          immutable_patterns: ['.*\\.tar\\.gz$'],
          negative_ttl: 60,
        },
        'rpm-test': { package: 'rpm', base_url: `${upstream.url}/rpm` },
        'alpine-test': {
          package: 'alpine',
          base_url: `${upstream.url}/alpine`,
          immutable_patterns: ['.*\\.apk$'],
          mutable_ttl: LONG_TTL,
        },
        'check-mutable-test': {
          package: 'generic',
          base_url: `${upstream.url}/check`,
          mutable_patterns: ['.*\\.json$'],
          mutable_ttl: 1,
          check_mutable_updates: true,
        },
        // The same upstream with a TTL that never runs out during the spec: a test expires a copy
        // itself (expireCopy), so what it asserts after that does not race a 1 s clock.
        'check-long-ttl': {
          package: 'generic',
          base_url: `${upstream.url}/check`,
          mutable_patterns: ['.*\\.json$'],
          mutable_ttl: LONG_TTL,
          check_mutable_updates: true,
        },
        'custom-index-test': {
          package: 'generic',
          base_url: `${upstream.url}/custom`,
          mutable_patterns: ['.*\\.json$'],
          mutable_ttl: 1,
        },
        'strict-missing': {
          package: 'generic',
          base_url: `${upstream.url}/strict`,
          mutable_patterns: ['.*\\.json$'],
          mutable_ttl: 1,
          upstream_missing: 'not_found',
        },
        'down-test': {
          package: 'generic',
          base_url: 'http://127.0.0.1:9/down',
          upstream_timeout: 2,
        },
        'local-test': { package: 'local' },
      },
    });
    api = `${stack.url()}/api/v1/remote`;
  });

  afterAll(async () => {
    await queue.close();
    await stack?.stop();
    await upstream.stop();
  });

  /**
   * What a TTL running out does: the freshness marker of a mutable copy disappears. The fetch
   * that stored the copy is let finish first: its client had every byte before the job ended,
   * and a revalidation of the same path joins a job still running (and answers its result).
   */
  async function expireCopy(remote: string, path: string): Promise<void> {
    expect(await queue.settle(remote, path)).toBeNull();
    const redis = stack.redis();
    try {
      expect(await redis.del(cacheKey('fresh', remote, path))).toBe(1);
    } finally {
      redis.disconnect();
    }
  }

  async function freshnessTtl(remote: string, path: string): Promise<number> {
    const redis = stack.redis();
    try {
      return await redis.ttl(cacheKey('fresh', remote, path));
    } finally {
      redis.disconnect();
    }
  }

  describe('routing and patterns', () => {
    it('unknown remote → 404', async () => {
      const response = await request(`${api}/nonexistent/path/to/file.tar.gz`);
      expect(response.status).toBe(404);
      expect(JSON.parse(response.body.toString())).toMatchObject({ error: 'unknown_remote' });
    });

    it('a path outside the remote patterns → 403, without asking the upstream', async () => {
      const response = await request(`${api}/generic-test/some/path/file.rpm`);
      expect(response.status).toBe(403);
      expect(upstream.count('generic/some/path/file.rpm')).toBe(0);
    });

    it('hosted file that does not exist → 404', async () => {
      expect((await request(`${api}/local-test/path/to/nonexistent.bin`)).status).toBe(404);
      expect(
        (await request(`${api}/local-test/path/to/nonexistent.bin`, { method: 'HEAD' })).status,
      ).toBe(404);
    });

    it('HEAD of an unknown remote → 404', async () => {
      expect(
        (await request(`${api}/nonexistent/path/to/file.bin`, { method: 'HEAD' })).status,
      ).toBe(404);
    });
  });

  describe('path guard (raw paths, sent as written)', () => {
    // A double-encoded '.', '/', '\\' or NUL survives the one decode as %2e, %2f, %5c or %00,
    // which a second decode further on (the upstream's web server, a proxy) would act on.
    it.each([
      'generic-test/%252e%252e/%252e%252e/secret.tar.gz',
      'generic-test/a/%252E%252E%252fsecret.tar.gz',
      'generic-test/a%255c..%255csecret.tar.gz',
      'generic-test/secret.tar.gz%2500.rpm',
      'generic-test/%25252e%25252e/secret.tar.gz',
      'generic-test/a/%2e%2e/secret.tar.gz',
      'generic-test/a/',
      'local-test/%252e%252e/x.bin',
      'local-test/a%252fb.bin',
      'local-test/%252e%252e/',
      '%252e%252e/generic-test/secret.tar.gz',
      'generic-test%252f%252e%252e/secret.tar.gz',
      '%252e%252e',
      '%2e%2e',
    ])('GET and HEAD /api/v1/remote/%s → 400, nothing asked upstream or stored', async (path) => {
      const asked = upstream.requests.length;
      const stored = stack.storedKeys();
      // `/api/v1/remote/<remote>` alone (a hosted root listing) has a GET route only.
      for (const method of path.includes('/') ? ['GET', 'HEAD'] : ['GET']) {
        const response = await rawRequest(stack.url(), `/api/v1/remote/${path}`, { method });
        expect({ method, status: response.status }).toEqual({ method, status: 400 });
        if (method === 'GET') {
          expect(JSON.parse(response.body.toString())).toMatchObject({ error: 'bad_path' });
        }
      }
      expect(upstream.requests.slice(asked)).toEqual([]);
      expect(stack.storedKeys()).toEqual(stored);
    });
  });

  describe('miss then hit', () => {
    const content = Buffer.from('tar content '.repeat(1000));

    beforeAll(() => {
      upstream.set('generic/some/path/archive.tar.gz', {
        body: content,
        contentType: 'application/x-gtar',
      });
    });

    it('a miss is fetched upstream and served with X-Artifact-Source: remote', async () => {
      const response = await request(`${api}/generic-test/some/path/archive.tar.gz`);
      expect(response.status).toBe(200);
      expect(response.headers['x-artifact-source']).toBe('remote');
      expect(response.headers['content-length']).toBe(String(content.length));
      expect(response.headers['x-artifact-size']).toBe(String(content.length));
      expect(response.body.equals(content)).toBe(true);
    });

    it('the next request is a hit with every docs/HTTP-API.md header', async () => {
      const response = await request(`${api}/generic-test/some/path/archive.tar.gz`);
      expect(response.status).toBe(200);
      expect(response.headers).toMatchObject({
        'x-artifact-source': 'cache',
        'x-artifact-size': String(content.length),
        'content-length': String(content.length),
        'content-type': 'application/x-gtar',
        etag: `"${sha256Of(content)}"`,
        'x-checksum-sha256': sha256Of(content),
      });
      expect(response.headers['content-disposition']).toBe('attachment; filename="archive.tar.gz"');
      expect(response.body.equals(content)).toBe(true);
      expect(upstream.count('generic/some/path/archive.tar.gz')).toBe(1);
    });

    it('records the artifact in Postgres and counts hits asynchronously', async () => {
      await waitFor(
        async () => {
          const rows = await stack.query<{ size: string; sha256: string; hit_count: string }>(
            `SELECT size, sha256, hit_count FROM cached_artifacts WHERE remote = $1 AND path = $2`,
            ['generic-test', 'some/path/archive.tar.gz'],
          );
          return rows[0] && Number(rows[0].hit_count) >= 1 ? rows[0] : null;
        },
        { description: 'the artifact row with a hit count', timeoutMs: 10_000, intervalMs: 200 },
      );
      const [row] = await stack.query<{ size: string; sha256: string }>(
        `SELECT size, sha256 FROM cached_artifacts WHERE remote = 'generic-test'`,
      );
      expect(Number(row.size)).toBe(content.length);
      expect(row.sha256).toBe(sha256Of(content));
    });

    it('Range → 206 with the slice, X-Artifact-Size the whole size', async () => {
      const response = await request(`${api}/generic-test/some/path/archive.tar.gz`, {
        headers: { range: 'bytes=100-199' },
      });
      expect(response.status).toBe(206);
      expect(response.headers['content-range']).toBe(`bytes 100-199/${content.length}`);
      expect(response.headers['x-artifact-size']).toBe(String(content.length));
      expect(response.body.equals(content.subarray(100, 200))).toBe(true);
    });

    it('an unsatisfiable Range → 416', async () => {
      const response = await request(`${api}/generic-test/some/path/archive.tar.gz`, {
        headers: { range: `bytes=${content.length}-` },
      });
      expect(response.status).toBe(416);
      expect(response.headers['content-range']).toBe(`bytes */${content.length}`);
    });

    it('If-Range: the same ETag or date → 206; another validator → 200 with the whole file', async () => {
      const url = `${api}/generic-test/some/path/archive.tar.gz`;
      const hit = await request(url, { method: 'HEAD' });
      const etag = String(hit.headers.etag);
      const lastModified = String(hit.headers['last-modified']);
      const resume = (ifRange: string) =>
        request(url, { headers: { range: 'bytes=100-199', 'if-range': ifRange } });
      for (const current of [etag, lastModified]) {
        const partial = await resume(current);
        expect(partial.status).toBe(206);
        expect(partial.body.equals(content.subarray(100, 200))).toBe(true);
      }
      // The client's copy is another version: it must get the whole file, never new bytes
      // glued to its old prefix.
      for (const stale of ['"an-older-etag"', `W/${etag}`, 'Thu, 01 Jan 2015 00:00:00 GMT']) {
        const whole = await resume(stale);
        expect(whole.status).toBe(200);
        expect(whole.headers['content-range']).toBeUndefined();
        expect(whole.body.equals(content)).toBe(true);
      }
    });

    it("Last-Modified is the upstream's, on the miss and on every hit, and answers If-Modified-Since", async () => {
      const dated = 'Tue, 07 May 2024 10:20:30 GMT';
      upstream.set('generic/dated/tool.tar.gz', { body: 'dated bytes', lastModified: dated });
      const url = `${api}/generic-test/dated/tool.tar.gz`;
      const miss = await request(url);
      expect(miss.headers['x-artifact-source']).toBe('remote');
      expect(miss.headers['last-modified']).toBe(dated);
      const hit = await request(url);
      expect([hit.headers['x-artifact-source'], hit.headers['last-modified']]).toEqual([
        'cache',
        dated,
      ]);
      expect((await request(url, { headers: { 'if-modified-since': dated } })).status).toBe(304);
      const older = 'Mon, 06 May 2024 10:20:30 GMT';
      expect((await request(url, { headers: { 'if-modified-since': older } })).status).toBe(200);
    });

    it('If-None-Match with the ETag → 304', async () => {
      const response = await request(`${api}/generic-test/some/path/archive.tar.gz`, {
        headers: { 'if-none-match': `"${sha256Of(content)}"` },
      });
      expect(response.status).toBe(304);
      expect(response.body.length).toBe(0);
    });

    it('HEAD of a hit has the GET headers and no body', async () => {
      const response = await request(`${api}/generic-test/some/path/archive.tar.gz`, {
        method: 'HEAD',
      });
      expect(response.status).toBe(200);
      expect(response.headers['content-length']).toBe(String(content.length));
      expect(response.headers['x-checksum-sha256']).toBe(sha256Of(content));
      expect(response.body.length).toBe(0);
    });

    it('HEAD of a miss is answered from an upstream HEAD, without caching', async () => {
      upstream.set('generic/head/only.tar.gz', { body: 'x'.repeat(321) });
      const response = await request(`${api}/generic-test/head/only.tar.gz`, { method: 'HEAD' });
      expect(response.status).toBe(200);
      expect(response.headers['x-artifact-source']).toBe('remote');
      expect(response.headers['content-length']).toBe('321');
      expect(response.headers['x-checksum-sha256']).toBeUndefined();
      expect(upstream.count('generic/head/only.tar.gz', 'HEAD')).toBe(1);
      expect(upstream.count('generic/head/only.tar.gz', 'GET')).toBe(0);
      const again = await request(`${api}/generic-test/head/only.tar.gz`, { method: 'HEAD' });
      expect(again.headers['x-artifact-source']).toBe('remote');
    });
  });

  describe('content types', () => {
    it('rpm by extension, xml by extension', async () => {
      upstream.set('rpm/almalinux/9/x86_64/bash-5.1.8.x86_64.rpm', { body: 'rpm bytes' });
      upstream.set('rpm/repo/repodata/primary.xml', { body: "<?xml version='1.0'?>" });
      const rpm = await request(`${api}/rpm-test/almalinux/9/x86_64/bash-5.1.8.x86_64.rpm`);
      expect(rpm.headers['content-type']).toContain('application/x-rpm');
      const xml = await request(`${api}/rpm-test/repo/repodata/primary.xml`);
      expect(xml.headers['content-type']).toContain('application/xml');
      const hit = await request(`${api}/rpm-test/almalinux/9/x86_64/bash-5.1.8.x86_64.rpm`);
      expect(hit.headers['x-artifact-source']).toBe('cache');
      expect(hit.headers['content-type']).toContain('application/x-rpm');
    });
  });

  describe('upstream failures', () => {
    it('upstream 404 → 404, remembered for negative_ttl (no second upstream request)', async () => {
      const first = await request(`${api}/generic-test/missing/thing.tar.gz`);
      expect(first.status).toBe(404);
      const second = await request(`${api}/generic-test/missing/thing.tar.gz`);
      expect(second.status).toBe(404);
      expect(upstream.count('generic/missing/thing.tar.gz')).toBe(1);
    });

    it('upstream unreachable with nothing cached → 502', async () => {
      const response = await request(`${api}/down-test/any/file.bin`);
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body.toString())).toMatchObject({ error: 'upstream_unavailable' });
    });

    it('upstream 5xx with nothing cached → 502, and the next request tries again', async () => {
      upstream.set('generic/flaky/file.tar.gz', { status: 503 });
      expect((await request(`${api}/generic-test/flaky/file.tar.gz`)).status).toBe(502);
      upstream.set('generic/flaky/file.tar.gz', { body: 'recovered' });
      await waitFor(
        async () => {
          const response = await request(`${api}/generic-test/flaky/file.tar.gz`);
          return response.status === 200 && response.body.toString() === 'recovered';
        },
        {
          description: 'the flaky file to be served once the upstream recovers',
          timeoutMs: 20_000,
          intervalMs: 500,
        },
      );
    });

    it('a body shorter than its Content-Length is never served as complete nor cached', async () => {
      upstream.set('generic/short/file.tar.gz', { size: 200_000, truncateAt: 100_000 });
      const response = await request(`${api}/generic-test/short/file.tar.gz`);
      expect(response.status === 200 && response.complete).toBe(false);
      upstream.set('generic/short/file.tar.gz', { body: 'whole' });
      await waitFor(
        async () =>
          (await request(`${api}/generic-test/short/file.tar.gz`)).body.toString() === 'whole',
        { description: 'a correct fetch after the broken one', timeoutMs: 20_000, intervalMs: 500 },
      );
    });
  });

  describe('ranges of a streaming miss', () => {
    it('a range is served from the fetch; its last byte waits for the verified whole', async () => {
      upstream.set('generic/range/cold.tar.gz', { size: 2 * MiB, rate: 4 * MiB });
      const response = await request(`${api}/generic-test/range/cold.tar.gz`, {
        headers: { range: 'bytes=10-19' },
      });
      expect(response.status).toBe(206);
      expect(response.headers['x-artifact-source']).toBe('remote');
      expect(response.headers['content-range']).toBe(`bytes 10-19/${2 * MiB}`);
      expect(response.complete).toBe(true);
      expect(response.body.equals(generatedSlice(10, 10))).toBe(true);
      // The range completed only once the whole fetch was verified and published.
      expect(upstream.bytesSent.get('generic/range/cold.tar.gz')).toBe(2 * MiB);
      const hit = await request(`${api}/generic-test/range/cold.tar.gz`, { method: 'HEAD' });
      expect(hit.headers['x-artifact-source']).toBe('cache');
    });

    it('a fetch that fails breaks a ranged response too, instead of leaving it hanging', async () => {
      upstream.set('generic/range/broken.tar.gz', {
        size: 2 * MiB,
        rate: 4 * MiB,
        truncateAt: MiB,
      });
      const response = await request(`${api}/generic-test/range/broken.tar.gz`, {
        headers: { range: 'bytes=0-99' },
      });
      expect(response.status).toBe(206);
      expect(response.complete).toBe(false);
      expect(response.body.length).toBeLessThan(100);
    });

    it('an unsatisfiable range on a miss → 416, not a 200 of the whole file', async () => {
      upstream.set('generic/range/small.tar.gz', { body: 'ten bytes!' });
      const response = await request(`${api}/generic-test/range/small.tar.gz`, {
        headers: { range: 'bytes=50-' },
      });
      expect(response.status).toBe(416);
      expect(response.headers['content-range']).toBe('bytes */10');
    });
  });

  describe('upstream redirects', () => {
    it('a redirect to a link-local address (a metadata service) is refused, nothing is stored', async () => {
      upstream.set('generic/redirect/meta.tar.gz', {
        status: 302,
        headers: { location: 'http://169.254.169.254/latest/meta-data/' },
      });
      const response = await request(`${api}/generic-test/redirect/meta.tar.gz`);
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body.toString()).message).toMatch(/redirect .*refused/);
      // Final at once: refusing again would not change the answer.
      expect(upstream.count('generic/redirect/meta.tar.gz')).toBe(1);
    });

    it('a redirect to the loopback host of an internal mirror (base_url on loopback) is followed', async () => {
      upstream.set('generic/redirect/inside.tar.gz', {
        status: 307,
        headers: { location: `http://localhost:${upstream.port}/generic/redirect/target` },
      });
      upstream.set('generic/redirect/target', { body: 'behind the redirect' });
      const response = await request(`${api}/generic-test/redirect/inside.tar.gz`);
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('behind the redirect');
    });
  });

  describe('mutable files', () => {
    it('a mutable file bypasses immutable_patterns and is cached with a TTL', async () => {
      upstream.set('alpine/v3.18/main/x86_64/APKINDEX.tar.gz', { body: 'index v1' });
      const first = await request(`${api}/alpine-test/v3.18/main/x86_64/APKINDEX.tar.gz`);
      expect(first.status).toBe(200);
      expect(first.headers['x-artifact-source']).toBe('remote');
      const ttl = await freshnessTtl('alpine-test', 'v3.18/main/x86_64/APKINDEX.tar.gz');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(LONG_TTL);
      const second = await request(`${api}/alpine-test/v3.18/main/x86_64/APKINDEX.tar.gz`);
      expect(second.headers['x-artifact-source']).toBe('cache');
    });

    it('without check_mutable_updates an expired file is downloaded again', async () => {
      upstream.set('custom/metadata.json', { body: '{"v":1}', etag: '"v1"' });
      expect((await request(`${api}/custom-index-test/metadata.json`)).body.toString()).toBe(
        '{"v":1}',
      );
      upstream.set('custom/metadata.json', { body: '{"v":2}', etag: '"v2"' });
      await waitFor(
        async () =>
          (await request(`${api}/custom-index-test/metadata.json`)).body.toString() === '{"v":2}',
        { description: 'the new copy after the TTL', timeoutMs: 10_000, intervalMs: 300 },
      );
      const conditional = upstream.requests.filter(
        (r) => r.path === 'custom/metadata.json' && r.headers['if-none-match'] !== undefined,
      );
      expect(conditional).toHaveLength(0);
    });

    it('with check_mutable_updates: 304 refreshes the TTL without a download', async () => {
      upstream.set('check/metadata.json', { body: '{"meta":1}', etag: '"m1"' });
      expect((await request(`${api}/check-mutable-test/metadata.json`)).status).toBe(200);
      const before = upstream.bytesSent.get('check/metadata.json');
      await waitFor(
        async () => {
          const response = await request(`${api}/check-mutable-test/metadata.json`);
          return upstream.count('check/metadata.json') >= 2 ? response : null;
        },
        { description: 'a revalidation after the TTL', timeoutMs: 10_000, intervalMs: 300 },
      );
      const revalidation = upstream.requests.filter((r) => r.path === 'check/metadata.json')[1];
      expect(revalidation.headers['if-none-match']).toBe('"m1"');
      expect(upstream.bytesSent.get('check/metadata.json')).toBe(before);
      const served = await request(`${api}/check-mutable-test/metadata.json`);
      expect(served.headers['x-artifact-source']).toBe('cache');
      expect(served.body.toString()).toBe('{"meta":1}');
    });

    it('with check_mutable_updates: 200 replaces the copy', async () => {
      upstream.set('check/changing.json', { body: '{"c":1}', etag: '"c1"' });
      await request(`${api}/check-mutable-test/changing.json`);
      upstream.set('check/changing.json', { body: '{"c":2}', etag: '"c2"' });
      await waitFor(
        async () =>
          (await request(`${api}/check-mutable-test/changing.json`)).body.toString() === '{"c":2}',
        { description: 'the changed copy', timeoutMs: 10_000, intervalMs: 300 },
      );
    });

    it('upstream down: the expired copy is served stale, and labelled so until a revalidation confirms it', async () => {
      upstream.set('check/outage.json', { body: '{"o":1}', etag: '"o1"' });
      await request(`${api}/check-long-ttl/outage.json`);
      await expireCopy('check-long-ttl', 'outage.json');
      await upstream.stop();
      try {
        const stale = await request(`${api}/check-long-ttl/outage.json`);
        expect(stale.headers['x-artifact-source']).toBe('stale');
        expect(stale.status).toBe(200);
        expect(stale.body.toString()).toBe('{"o":1}');
        // The TTL was refreshed, so the upstream is not asked again for a while, but the copy is
        // still unconfirmed: it stays labelled stale.
        expect(
          (await request(`${api}/check-long-ttl/outage.json`)).headers['x-artifact-source'],
        ).toBe('stale');
      } finally {
        await upstream.start();
      }
      const asked = upstream.count('check/outage.json');
      await expireCopy('check-long-ttl', 'outage.json');
      const confirmed = await request(`${api}/check-long-ttl/outage.json`);
      expect(confirmed.headers['x-artifact-source']).toBe('cache');
      expect(upstream.count('check/outage.json')).toBe(asked + 1);
      expect(
        (await request(`${api}/check-long-ttl/outage.json`)).headers['x-artifact-source'],
      ).toBe('cache');
    });

    it('upstream 5xx on revalidation: served stale', async () => {
      upstream.set('check/five.json', { body: '{"f":1}', etag: '"f1"' });
      await request(`${api}/check-mutable-test/five.json`);
      upstream.set('check/five.json', { status: 500 });
      const stale = await waitFor(
        async () => {
          const response = await request(`${api}/check-mutable-test/five.json`);
          return response.headers['x-artifact-source'] === 'stale' ? response : null;
        },
        {
          description: 'a stale answer while the upstream fails',
          timeoutMs: 15_000,
          intervalMs: 300,
        },
      );
      expect(stale.body.toString()).toBe('{"f":1}');
    });

    it('upstream now 404 for a cached mutable file: stale by default, 404 with upstream_missing: not_found', async () => {
      upstream.set('check/dropped.json', { body: '{"d":1}' });
      await request(`${api}/check-mutable-test/dropped.json`);
      upstream.remove('check/dropped.json');
      const stale = await waitFor(
        async () => {
          const response = await request(`${api}/check-mutable-test/dropped.json`);
          return response.headers['x-artifact-source'] === 'stale' ? response : null;
        },
        {
          description: 'stale after the upstream dropped the file',
          timeoutMs: 10_000,
          intervalMs: 300,
        },
      );
      expect(stale.body.toString()).toBe('{"d":1}');

      upstream.set('strict/dropped.json', { body: '{"s":1}' });
      expect((await request(`${api}/strict-missing/dropped.json`)).status).toBe(200);
      upstream.remove('strict/dropped.json');
      await waitFor(
        async () => (await request(`${api}/strict-missing/dropped.json`)).status === 404,
        {
          description: '404 once the TTL passed',
          timeoutMs: 10_000,
          intervalMs: 300,
        },
      );
    });
  });

  describe('coalescing across replicas', () => {
    let wide: Stack;

    beforeAll(async () => {
      wide = await Stack.start({
        remotes: { gen: { package: 'generic', base_url: `${upstream.url}/wide` } },
        gateways: 2,
        fetchers: 2,
      });
    });

    afterAll(() => wide?.stop());

    it('50 concurrent requests over 2 gateways and 2 fetchers cause exactly one upstream GET', async () => {
      upstream.set('wide/cold/artifact.bin', { size: 4 * 1024 * 1024, rate: 8 * 1024 * 1024 });
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          request(`${wide.url(i % 2)}/api/v1/remote/gen/cold/artifact.bin`),
        ),
      );
      expect(upstream.count('wide/cold/artifact.bin')).toBe(1);
      const digests = new Set(responses.map((r) => sha256Of(r.body)));
      expect(responses.every((r) => r.status === 200 && r.complete)).toBe(true);
      expect(digests.size).toBe(1);
      expect(responses.every((r) => r.body.length === 4 * 1024 * 1024)).toBe(true);
    });

    it('hits are served with every fetcher down', async () => {
      await Promise.all(wide.fetchers.map((f) => f.stop()));
      const response = await request(`${wide.url(1)}/api/v1/remote/gen/cold/artifact.bin`);
      expect(response.status).toBe(200);
      expect(response.headers['x-artifact-source']).toBe('cache');
    });

    it('a miss with every fetcher down → 503 with Retry-After, at once', async () => {
      upstream.set('wide/never.bin', { body: 'x' });
      await waitFor(
        async () => (await request(`${wide.url(0)}/api/v1/remote/gen/never.bin`)).status === 503,
        {
          description: 'the gateways to notice that no fetcher is left',
          timeoutMs: 15_000,
          intervalMs: 500,
        },
      );
      const response = await request(`${wide.url(1)}/api/v1/remote/gen/never.bin`);
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(upstream.count('wide/never.bin')).toBe(0);
    });
  });
});
