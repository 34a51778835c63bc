import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from '../helpers/browser';
import { download, request } from '../helpers/http';
import { Stack } from '../helpers/stack';
import { UpstreamServer, generatedSha256 } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';

const TOKEN = 'queue-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const MiB = 1024 * 1024;
const SCREENSHOTS = join(__dirname, '..', '..', '.data', 'screenshots');

interface JobView {
  id: string;
  state: string;
  remote: string;
  path: string;
  attempts_made: number;
  age_seconds: number;
  last_error: string | null;
}

/** docs/HTTP-API.md queue inspection: a stuck fetch is visible and can be recovered; the UI works. */
describe('queue inspection', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let admin: string;

  const jobs = async (state: string): Promise<JobView[]> => {
    const response = await request(`${admin}/jobs?state=${state}`, { headers: auth });
    expect(response.status).toBe(200);
    return (JSON.parse(response.body.toString()) as { jobs: JobView[] }).jobs;
  };

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files`, upstream_timeout: 10 },
      },
      env: { ADMIN_TOKEN: TOKEN },
    });
    admin = `${stack.url()}/admin/api/queues`;
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('the JSON API needs the admin token', async () => {
    expect((await request(admin)).status).toBe(401);
    expect((await request(admin, { headers: { authorization: 'Bearer nope' } })).status).toBe(403);
    const counts = JSON.parse((await request(admin, { headers: auth })).body.toString());
    expect(Object.keys(counts).sort()).toEqual([
      'active',
      'completed',
      'delayed',
      'failed',
      'stalled',
      'waiting',
    ]);
  });

  it('lists a failed fetch with its remote, path and error, and removes it', async () => {
    await request(`${stack.url()}/api/v1/remote/files/missing.bin`);
    const failed = await jobs('failed');
    const job = failed.find((j) => j.path === 'missing.bin');
    expect(job).toMatchObject({ remote: 'files', state: 'failed', attempts_made: 1 });
    expect(job?.last_error).toMatch(/upstream_not_found/);
    expect(job?.age_seconds).toBeGreaterThanOrEqual(0);
    const removed = await request(`${admin}/jobs/${job!.id}`, { method: 'DELETE', headers: auth });
    expect(removed.status).toBe(204);
    expect((await jobs('failed')).find((j) => j.path === 'missing.bin')).toBeUndefined();
  });

  it('a fetcher killed mid-download leaves a stalled job that shows up and recovers through a retry', async () => {
    const size = 64 * MiB;
    upstream.set('files/stuck.bin', { size, rate: 4 * MiB });
    let killed = false;
    const client = download(`${stack.url()}/api/v1/remote/files/stuck.bin`, (received) => {
      if (received > 4 * MiB && !killed) {
        killed = true;
        void stack.fetchers[0].kill();
      }
    });
    const broken = await client;
    expect(broken.complete).toBe(false);

    // Its lock expires (lockDuration) and no fetcher is left to pick it up: it is stalled.
    const stalled = await waitFor(
      async () => (await jobs('stalled')).find((j) => j.path === 'stuck.bin'),
      { description: 'the killed fetch to show as stalled', timeoutMs: 40_000, intervalMs: 1000 },
    );
    expect(stalled).toMatchObject({ remote: 'files', state: 'stalled' });

    const retried = await request(`${admin}/jobs/${stalled.id}/retry`, {
      method: 'POST',
      headers: auth,
    });
    expect(retried.status).toBe(201);
    expect(JSON.parse(retried.body.toString())).toMatchObject({ state: 'waiting' });

    upstream.set('files/stuck.bin', { size });
    await stack.fetchers[0].start();
    const fixed = await waitFor(
      async () => {
        const response = await request(`${stack.url()}/api/v1/remote/files/stuck.bin`, {
          method: 'HEAD',
        });
        return response.headers['x-artifact-source'] === 'cache' ? response : null;
      },
      { description: 'the retried fetch to be published', timeoutMs: 60_000, intervalMs: 1000 },
    );
    expect(fixed.headers['x-checksum-sha256']).toBe(generatedSha256(size));
  });

  it('a running fetch can be cancelled; its client gets a broken transfer, a retry publishes it', async () => {
    const size = 64 * MiB;
    upstream.set('files/cancel-me.bin', { size, rate: 2 * MiB });
    let started = false;
    const client = download(`${stack.url()}/api/v1/remote/files/cancel-me.bin`, () => {
      started = true;
    });
    const running = await waitFor(
      async () => started && (await jobs('active')).find((j) => j.path === 'cancel-me.bin'),
      { description: 'the slow fetch to run', timeoutMs: 20_000, intervalMs: 200 },
    );
    // Retry and remove refuse a running job, and say how to stop it.
    const refused = await request(`${admin}/jobs/${running.id}`, {
      method: 'DELETE',
      headers: auth,
    });
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body.toString()).message).toMatch(/cancel it first/);

    const cancelled = await request(`${admin}/jobs/${running.id}/cancel`, {
      method: 'POST',
      headers: auth,
    });
    expect(cancelled.status).toBe(201);
    expect(JSON.parse(cancelled.body.toString())).toMatchObject({
      state: 'failed',
      last_error: expect.stringMatching(/^cancelled: /),
    });
    expect((await client).complete).toBe(false);

    upstream.set('files/cancel-me.bin', { size });
    const retried = await request(`${admin}/jobs/${running.id}/retry`, {
      method: 'POST',
      headers: auth,
    });
    expect(retried.status).toBe(201);
    const published = await waitFor(
      async () => {
        const response = await request(`${stack.url()}/api/v1/remote/files/cancel-me.bin`, {
          method: 'HEAD',
        });
        return response.headers['x-artifact-source'] === 'cache' ? response : null;
      },
      { description: 'the retried fetch to be published', timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(published.headers['x-checksum-sha256']).toBe(generatedSha256(size));
  });

  it('a job that vanishes (Redis emptied) is added again by its waiting client, well before FETCH_WAIT_TIMEOUT', async () => {
    const body = Buffer.from('fetched by the second job');
    upstream.set('files/vanishing.bin', { hang: true });
    const answer = request(`${stack.url()}/api/v1/remote/files/vanishing.bin`);
    await waitFor(() => upstream.count('files/vanishing.bin') === 1, {
      description: 'the first fetch to ask the upstream',
      timeoutMs: 20_000,
    });
    // A Redis restart without persistence: the job and its events are gone.
    const redis = stack.redis();
    try {
      await redis.flushdb();
    } finally {
      redis.disconnect();
    }
    upstream.set('files/vanishing.bin', { body });
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.body.equals(body)).toBe(true);
    expect(upstream.count('files/vanishing.bin')).toBe(2);
  });

  it('the web UI at /admin/queues works in a real browser, behind the token', async () => {
    expect((await request(`${stack.url()}/admin/queues`)).status).toBe(401);
    await request(`${stack.url()}/api/v1/remote/files/also-missing.bin`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({
        httpCredentials: { username: 'admin', password: TOKEN },
      });
      const page = await context.newPage();
      const elsewhere: string[] = [];
      page.on('request', (asked) => {
        if (!asked.url().startsWith(`${stack.url()}/`)) {
          elsewhere.push(asked.url());
        }
      });
      const board = await page.goto(
        `${stack.url()}/admin/queues/queue/artifact-fetch?status=failed`,
      );
      expect(board?.headers()['content-security-policy']).toMatch(/^default-src 'self'/);
      await page.getByText('also-missing.bin').first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(SCREENSHOTS, 'queue-ui-failed.png'), fullPage: true });
      await page.goto(`${stack.url()}/admin/queues`);
      await page.getByText('artifact-fetch').first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: join(SCREENSHOTS, 'queue-ui.png'), fullPage: true });
      // nothing from the internet (the board's own page links web fonts there)
      expect(elsewhere).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
