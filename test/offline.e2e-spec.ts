import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';
import { request } from './helpers/http';
import { waitFor } from '../tools/wait-for';

const TOKEN = 'offline-admin-token';
const admin = { authorization: `Bearer ${TOKEN}` };

/**
 * Offline remotes (issue 17): `offline: true` in the remotes file, and an admin's switch at run
 * time that every gateway follows. Offline, a remote serves what it holds (expired index files
 * stale) and asks its upstream nothing; misses answer 503 saying so.
 */
describe('offline remotes', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  const file = (gateway: number, remote: string, path: string) =>
    request(`${stack.url(gateway)}/api/v1/remote/${remote}/${path}`);
  const switchTo = async (state: 'offline' | 'online') => {
    const response = await request(`${stack.url(0)}/admin/api/remotes/files/offline`, {
      method: state === 'offline' ? 'PUT' : 'DELETE',
      headers: admin,
    });
    expect(response.status).toBe(200);
    return JSON.parse(response.body.toString()) as { state: string; offline_by: string | null };
  };

  beforeAll(async () => {
    await upstream.start();
    for (const path of ['a.bin', 'b.bin', 'index.json']) {
      upstream.set(`files/${path}`, { body: `${path} v1` });
      upstream.set(`frozen/${path}`, { body: `${path} v1` });
    }
    stack = await Stack.start({
      remotes: {
        files: {
          package: 'generic',
          base_url: `${upstream.url}/files`,
          mutable_patterns: ['.*\\.json$'],
          immutable_patterns: ['.*\\.bin$'],
          mutable_ttl: 1,
        },
        frozen: { package: 'generic', base_url: `${upstream.url}/frozen`, offline: true },
      },
      gateways: 2,
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('answers a miss of a remote set offline with 503, asking the upstream nothing', async () => {
    const miss = await file(0, 'frozen', 'a.bin');
    expect(miss.status).toBe(503);
    expect(miss.headers['retry-after']).toBe('60');
    expect(JSON.parse(miss.body.toString())).toMatchObject({
      error: 'service_unavailable',
      message: expect.stringContaining('frozen is offline'),
    });
    expect(upstream.count('frozen/a.bin') + upstream.count('frozen/a.bin', 'HEAD')).toBe(0);
  });

  it('switched offline on one gateway: every gateway serves what it holds and asks nothing', async () => {
    for (const path of ['a.bin', 'index.json']) {
      expect((await file(1, 'files', path)).headers['x-artifact-source']).toBe('remote');
    }
    expect(await switchTo('offline')).toMatchObject({ state: 'offline', offline_by: 'admin' });
    const asked = upstream.requests.length;
    // Each gateway reads the switch every second; asking for a miss meanwhile would fetch it.
    const stateOn = async (gateway: number) => {
      const listed = await request(`${stack.url(gateway)}/admin/api/remotes`, { headers: admin });
      return (JSON.parse(listed.body.toString()) as { remotes: Array<{ state: string }> })
        .remotes[0].state;
    };
    await waitFor(async () => (await stateOn(1)) === 'offline', {
      description: 'gateway 1 following the switch',
      timeoutMs: 5000,
    });
    const miss = await file(1, 'files', 'b.bin');
    expect(miss.status).toBe(503);
    expect(JSON.parse(miss.body.toString()).message).toContain('files is offline');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // index.json expires
    for (const gateway of [0, 1]) {
      const hit = await file(gateway, 'files', 'a.bin');
      expect([hit.status, hit.headers['x-artifact-source']]).toEqual([200, 'cache']);
      const expired = await file(gateway, 'files', 'index.json');
      expect([expired.status, expired.headers['x-artifact-source']]).toEqual([200, 'stale']);
      expect(expired.body.toString()).toBe('index.json v1');
    }
    expect(upstream.requests.length).toBe(asked);

    const listed = await request(`${stack.url(1)}/admin/api/remotes`, { headers: admin });
    expect(JSON.parse(listed.body.toString()).remotes).toEqual([
      {
        remote: 'files',
        package: 'generic',
        state: 'offline',
        offline_by: 'admin',
        since: expect.any(String),
      },
      { remote: 'frozen', package: 'generic', state: 'offline', offline_by: 'config', since: null },
    ]);
    const metrics = (await request(`${stack.url(1)}/metrics`)).body.toString();
    expect(metrics).toMatch(/artifactcache_remote_up\{remote="files"\} 0/);

    expect(await switchTo('online')).toMatchObject({ state: 'online', offline_by: null });
    await waitFor(async () => (await stateOn(1)) === 'online', {
      description: 'gateway 1 back online',
      timeoutMs: 5000,
    });
    expect((await file(1, 'files', 'b.bin')).headers['x-artifact-source']).toBe('remote');
    expect((await request(`${stack.url(1)}/metrics`)).body.toString()).toMatch(
      /artifactcache_remote_up\{remote="files"\} 1/,
    );
  });

  it('refuses an unknown remote and needs the token', async () => {
    expect((await request(`${stack.url(0)}/admin/api/remotes`)).status).toBe(401);
    const unknown = await request(`${stack.url(0)}/admin/api/remotes/nope/offline`, {
      method: 'PUT',
      headers: admin,
    });
    expect(unknown.status).toBe(404);
  });
});

describe('the circuit breaker', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  const file = (path: string) => request(`${stack.url()}/api/v1/remote/flaky/${path}`);
  // Read from the other gateway: every replica counts into, and follows, the same breaker.
  /**
   * Until both gateways show `expected`, and a second more: a gateway's worker processes each read
   * the breaker every second, so the one that answered may have read it before the next one.
   */
  const reach = async (expected: string, description: string, timeoutMs = 10_000) => {
    await waitFor(async () => (await state()) === expected, { description, timeoutMs });
    await new Promise((resolve) => setTimeout(resolve, 1100));
  };
  const fetcherLogs = () => stack.fetchers.map((fetcher) => fetcher.log()).join('\n');
  const state = async () => {
    const listed = await request(`${stack.url(1)}/admin/api/remotes`, { headers: admin });
    return (JSON.parse(listed.body.toString()) as { remotes: Array<{ state: string }> }).remotes[0]
      .state;
  };

  beforeAll(async () => {
    await upstream.start();
    upstream.set('flaky/index.json', { body: 'index v1' });
    stack = await Stack.start({
      remotes: {
        flaky: {
          package: 'generic',
          base_url: `${upstream.url}/flaky`,
          mutable_patterns: ['.*\\.json$'],
          immutable_patterns: ['.*\\.bin$'],
          mutable_ttl: 1,
          circuit: { failures: 3, window: 30, open_for: 5 },
        },
      },
      gateways: 2,
      fetchers: 2,
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('opens after the failures, answers from what it holds without asking, then one answer closes it', async () => {
    expect((await file('index.json')).headers['x-artifact-source']).toBe('remote');
    upstream.set('flaky/down.bin', { status: 503 });
    // One miss: three attempts, three 503s (the fetcher retries with backoff).
    expect((await file('down.bin')).status).toBe(502);
    await reach('circuit_open', 'the circuit to open', 15_000);
    expect(fetcherLogs()).toMatch(/circuit of flaky opened after 3 upstream failures/);
    expect(fetcherLogs()).toMatch(
      /flaky down\.bin \[[^\]]+\] failed after .* \(attempt 3\/3, final\)/,
    );
    const asked = upstream.requests.length;
    upstream.set('flaky/new.bin', { body: 'new' });
    const miss = await file('new.bin');
    expect(miss.status).toBe(503);
    expect(Number(miss.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(miss.headers['retry-after'])).toBeLessThanOrEqual(5);
    expect(JSON.parse(miss.body.toString()).message).toContain('circuit open');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // index.json expires
    const expired = await file('index.json');
    expect([expired.status, expired.headers['x-artifact-source']]).toEqual([200, 'stale']);
    expect(upstream.requests.length).toBe(asked);

    // open_for passes: the first answer (a success) closes it.
    await reach('online', 'the circuit to let a request through', 10_000);
    expect((await file('new.bin')).headers['x-artifact-source']).toBe('remote');
    await waitFor(() => /circuit of flaky closed/.test(fetcherLogs()), {
      description: 'the close logged',
      timeoutMs: 5000,
    });
  });

  it("leaves a remote alone for a 429's Retry-After, on every replica", async () => {
    upstream.set('flaky/limited.bin', { rateLimited: { retryAfter: 4 } });
    expect((await file('limited.bin')).status).toBe(503);
    await reach('circuit_open', 'the back-off to reach the gateway', 5000);
    expect(fetcherLogs()).toMatch(/flaky answered 429: every replica leaves it alone for 4 s/);
    const asked = upstream.requests.length;
    upstream.set('flaky/other.bin', { body: 'other' });
    const miss = await file('other.bin');
    expect(miss.status).toBe(503);
    expect(Number(miss.headers['retry-after'])).toBeLessThanOrEqual(4);
    expect(upstream.requests.length).toBe(asked);
    await reach('online', 'the back-off to end', 10_000);
    expect((await file('other.bin')).headers['x-artifact-source']).toBe('remote');
  });

  it("counts the gateway's own upstream HEADs of misses too", async () => {
    await reach('online', 'the circuit closed after the last case', 10_000);
    upstream.set('flaky/gone-away.bin', { status: 503 });
    for (let i = 0; i < 3; i += 1) {
      const head = await request(`${stack.url(i % 2)}/api/v1/remote/flaky/gone-away.bin`, {
        method: 'HEAD',
      });
      expect(head.status).toBe(502);
    }
    expect(upstream.count('flaky/gone-away.bin', 'HEAD')).toBe(3);
    expect(upstream.count('flaky/gone-away.bin')).toBe(0);
    await reach('circuit_open', 'three failed HEADs to open the circuit', 5000);
    expect(stack.gateways.map((gateway) => gateway.log()).join('\n')).toMatch(
      /circuit of flaky opened after 3 upstream failures/,
    );
  });
});
