import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './helpers/browser';
import { request, sha256Of } from './helpers/http';
import { type PublishedImage, publishImage } from './helpers/registry-images';
import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';
import { waitFor } from '../tools/wait-for';

const TOKEN = 'console-admin-token';
const SCREENSHOTS = join(__dirname, '..', '.data', 'screenshots');

/**
 * The web console in Debian's Chromium: logging in, the overview, a remote's cached files and
 * its actions, and the forms another site cannot post.
 */
describe('the web console at /admin', () => {
  const upstream = new UpstreamServer();
  const elsewhere = new UpstreamServer();
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let app: PublishedImage;
  const file = (path: string) => request(`${stack.url()}/api/v1/remote/files/${path}`);
  const shot = (name: string) =>
    page.screenshot({ path: join(SCREENSHOTS, `console-${name}.png`), fullPage: true });

  async function logIn(target: Page, token: string): Promise<void> {
    await target.goto(`${stack.url()}/admin`);
    await target.getByLabel('Admin token').fill(token);
    await target.getByRole('button', { name: 'Log in' }).click();
  }

  beforeAll(async () => {
    await mkdir(SCREENSHOTS, { recursive: true });
    await upstream.start();
    await elsewhere.start();
    upstream.set('files/tools/app-1.0.tar.gz', { body: 'the app, version 1.0' });
    upstream.set('files/tools/lib-2.1.tar.gz', { body: 'the library, version 2.1' });
    app = publishImage(upstream, 'registry', 'team/app', '1.0', [
      { architecture: 'amd64', blobs: [Buffer.from('amd64 config'), Buffer.from('amd64 layer')] },
      { architecture: 'arm64', blobs: [Buffer.from('arm64 config'), Buffer.from('arm64 layer')] },
    ]);
    publishImage(upstream, 'registry', 'team/other', '1.0', [
      { architecture: 'amd64', blobs: [Buffer.from('other config'), Buffer.from('other layer')] },
    ]);
    upstream.set('hub/images/base.tar', {
      body: 'a base image',
      headers: { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '87;w=21600' },
    });
    stack = await Stack.start({
      remotes: {
        files: {
          package: 'generic',
          base_url: `${upstream.url}/files`,
          max_size: '1GiB',
          circuit: { failures: 3, window: 60, open_for: 60 },
        },
        uploads: { package: 'local' },
        images: { package: 'docker', base_url: `${upstream.url}/registry` },
        hub: {
          package: 'generic',
          base_url: `${upstream.url}/hub`,
          max_requests_per_minute: 6,
          max_concurrent: 4,
        },
      },
      env: { ADMIN_TOKEN: TOKEN },
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await upstream.stop();
    await elsewhere.stop();
  });

  it('asks for the token, refuses a wrong one, and keeps a session cookie that holds no token', async () => {
    await logIn(page, 'not-the-token');
    await page.getByText('That is not the admin token.').waitFor();
    await logIn(page, TOKEN);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const [session] = await context.cookies();
    expect(session).toMatchObject({ name: 'ac_console', httpOnly: true, sameSite: 'Strict' });
    expect(session.value).not.toContain(TOKEN);
  });

  it('shows every remote with its type and state, the queue and the health of its services', async () => {
    await page.goto(`${stack.url()}/admin`);
    const rows = page.locator('tbody tr');
    await expect(rows.filter({ hasText: 'files' }).first().innerText()).resolves.toMatch(
      /files\s+generic\s+online/,
    );
    await expect(rows.filter({ hasText: 'uploads' }).first().innerText()).resolves.toMatch(
      /uploads\s+local\s+hosted/,
    );
    await expect(page.locator('main').innerText()).resolves.toMatch(/Health: healthy/);
    await expect(page.getByRole('link', { name: 'Open the queue board' }).count()).resolves.toBe(1);
    // the queue board takes the console's session: no Basic prompt
    const board = await page.goto(`${stack.url()}/admin/queues/`);
    expect(board?.status()).toBe(200);
  });

  it("shows each remote's traffic and hit ratio over the last hour, and its upstream headroom", async () => {
    const image = () => request(`${stack.url()}/api/v1/remote/hub/images/base.tar`);
    expect((await image()).headers['x-artifact-source']).toBe('remote');
    for (let i = 0; i < 3; i++) {
      expect((await image()).headers['x-artifact-source']).toBe('cache');
    }
    await page.goto(`${stack.url()}/admin`);
    const row = await page.locator('tbody tr', { hasText: 'hub' }).innerText();
    // 4 requests, 3 of them hits, 4 × 12 bytes; one request of the 6 a minute allows was
    // taken (a token comes back every 10 s), none is open, and what the upstream said last
    expect(row).toMatch(/hub\s+generic\s+online\s+4\s+75%\s+48 B/);
    expect(row).toMatch(/[56] of 6\/min/);
    expect(row).toContain('0 of 4 open');
    expect(row).toMatch(/upstream: 87 of 100 left at \d{4}-\d\d-\d\d/);
    await shot('overview');
    const hosted = await page.locator('tbody tr', { hasText: 'uploads' }).innerText();
    expect(hosted).toMatch(/uploads\s+local\s+hosted\s+0\s+–\s+0 B\s+–/);
  });

  it("lists a remote's cached files, finds one by digest, and purges it", async () => {
    expect((await file('tools/app-1.0.tar.gz')).headers['x-artifact-source']).toBe('remote');
    expect((await file('tools/lib-2.1.tar.gz')).headers['x-artifact-source']).toBe('remote');
    await file('tools/app-1.0.tar.gz');
    const digest = sha256Of('the app, version 1.0');
    await waitFor(
      async () => {
        await page.goto(`${stack.url()}/admin/remotes/files?q=tools/`);
        return (await page.locator('tbody tr', { hasText: 'app-1.0' }).count()) === 1;
      },
      { description: 'the fetched files to be recorded', timeoutMs: 15_000 },
    );
    const listed = await page.locator('tbody tr', { hasText: 'app-1.0' }).innerText();
    expect(listed).toContain('20 B');
    expect(listed).toContain(digest.slice(0, 16));
    await shot('remote');

    await page.getByLabel('Path prefix or sha256').fill(`sha256:${digest}`);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect(page.locator('tbody tr', { hasText: 'tools/' }).allInnerTexts()).resolves.toEqual([
      expect.stringContaining('tools/app-1.0.tar.gz'),
    ]);

    await page.getByLabel('Path or prefix/').fill('tools/app-1.0.tar.gz');
    await page.getByRole('button', { name: 'Purge' }).click();
    await page
      .getByRole('status')
      .getByText(/Purged tools\/app-1\.0\.tar\.gz: 1 records/)
      .waitFor();
    await page.goto(`${stack.url()}/admin/remotes/files?q=tools/`);
    await expect(page.locator('tbody tr', { hasText: 'tools/' }).allInnerTexts()).resolves.toEqual([
      expect.stringContaining('tools/lib-2.1.tar.gz'),
    ]);
    expect((await file('tools/app-1.0.tar.gz')).headers['x-artifact-source']).toBe('remote');
    expect(stack.gateways[0].log()).toMatch(
      /POST \/admin\/remotes\/files\/purge 303 by [0-9a-f]{12}/,
    );
  });

  it('browses a cached image by its tag: the index, its platform manifests and their blobs', async () => {
    const pull = (path: string) => request(`${stack.url()}/v2/images/${path}`);
    for (const path of [app.index, ...app.manifests, ...app.blobs, 'team/other/manifests/1.0']) {
      expect((await pull(path)).status).toBe(200);
    }
    const listed = () => page.locator('tbody tr').allInnerTexts();
    await waitFor(
      async () => {
        await page.goto(`${stack.url()}/admin/remotes/images`);
        await page.getByLabel('Image, path prefix or sha256').fill('team/app:1.0');
        await page.getByRole('button', { name: 'Search' }).click();
        return (await listed()).length === 1 + app.manifests.length + app.blobs.length;
      },
      { description: 'the pulled image to be recorded', timeoutMs: 15_000 },
    );
    const paths = (await listed()).map((row) => row.split(/\s/)[0]);
    expect(paths[0]).toBe(app.index);
    expect(paths.slice(1, 3).sort()).toEqual([...app.manifests].sort());
    expect(paths.slice(3).sort()).toEqual([...app.blobs].sort());
    expect((await listed()).join('\n')).not.toContain('team/other');
    await shot('image');

    await page.getByRole('button', { name: 'Flush all of images' }).click();
    await page
      .getByRole('status')
      .getByText(/Flushed images: \d+ records/)
      .waitFor();
    await page.goto(`${stack.url()}/admin/remotes/images?q=team/`);
    await expect(page.locator('main').innerText()).resolves.toMatch(/Files\s+0\b/);
    expect((await pull(app.index)).headers['x-artifact-source']).toBe('remote');
  });

  it('reads on a phone and works from the keyboard alone', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const small = await phone.newPage();
      await small.goto(`${stack.url()}/admin`);
      // the token field takes the focus by itself: type the token there and press Enter
      await small.waitForFunction("document.activeElement?.id === 'token'");
      await small.keyboard.type(TOKEN);
      await small.keyboard.press('Enter');
      await small.getByRole('heading', { name: 'Overview' }).waitFor();
      // wide tables scroll inside their own box: the page itself is as wide as the phone
      await expect(small.evaluate('document.documentElement.scrollWidth')).resolves.toBe(390);
      await small.screenshot({ path: join(SCREENSHOTS, 'console-phone.png'), fullPage: true });
      let focused = '';
      for (let i = 0; i < 20 && focused !== 'files'; i++) {
        await small.keyboard.press('Tab');
        focused = String(await small.evaluate('document.activeElement.textContent.trim()'));
      }
      expect(focused).toBe('files');
      await small.keyboard.press('Enter');
      await small.getByRole('heading', { name: 'files (generic)' }).waitFor();
    } finally {
      await phone.close();
    }
  });

  it("lists a hosted remote's files with their sizes and digests", async () => {
    const uploaded = await request(`${stack.url()}/api/v1/remote/uploads/builds/app.tar`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: 'x'.repeat(3000),
    });
    expect(uploaded.status).toBe(201);
    await waitFor(
      async () => {
        await page.goto(`${stack.url()}/admin/remotes/uploads`);
        return (await page.locator('tbody tr', { hasText: 'builds/app.tar' }).count()) === 1;
      },
      { description: 'the upload to be recorded', timeoutMs: 15_000 },
    );
    const row = await page.locator('tbody tr', { hasText: 'builds/app.tar' }).innerText();
    expect(row).toContain('2.9 KiB');
    expect(row).toContain(sha256Of('x'.repeat(3000)).slice(0, 16));
    await expect(page.locator('main').innerText()).resolves.toMatch(/Uploaded/);
  });

  it('uploads a file from the page with its progress shown, then deletes it', async () => {
    const bytes = Buffer.alloc(2 * 1024 * 1024, 7);
    await page.goto(`${stack.url()}/admin/remotes/uploads`);
    await page.getByLabel('Upload a file').setInputFiles({
      name: 'tool.bin',
      mimeType: 'application/octet-stream',
      buffer: bytes,
    });
    await page.getByLabel('into').fill('releases');
    const progress: string[] = [];
    await page.exposeFunction('reportUploadProgress', (text: string) => progress.push(text));
    // The page's own script writes its progress into the form's <output>: watch it change.
    await page.evaluate(`{
      const output = document.querySelector('#upload output');
      new MutationObserver(() => window.reportUploadProgress(output.textContent)).observe(output, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    }`);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.getByRole('status').getByText('Uploaded releases/tool.bin.').waitFor();
    expect(progress).toContain('Uploading tool.bin: 100%');
    const got = await request(`${stack.url()}/api/v1/remote/uploads/releases/tool.bin`);
    expect([got.status, sha256Of(got.body)]).toEqual([200, sha256Of(bytes)]);
    await shot('hosted');

    await waitFor(
      async () => {
        await page.goto(`${stack.url()}/admin/remotes/uploads?q=releases/`);
        return (await page.locator('tbody tr', { hasText: 'releases/tool.bin' }).count()) === 1;
      },
      { description: 'the upload to be recorded', timeoutMs: 15_000 },
    );
    const row = page.locator('tbody tr', { hasText: 'releases/tool.bin' });
    await expect(row.innerText()).resolves.toContain('2.0 MiB');
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('status').getByText('Deleted releases/tool.bin.').waitFor();
    expect((await request(`${stack.url()}/api/v1/remote/uploads/releases/tool.bin`)).status).toBe(
      404,
    );
    expect(stack.gateways[0].log()).toMatch(
      /PUT \/admin\/remotes\/uploads\/files\/releases\/tool\.bin 201 by [0-9a-f]{12}/,
    );
  });

  it('switches a remote offline and back, on every gateway', async () => {
    await page.goto(`${stack.url()}/admin/remotes/files`);
    await page.getByRole('button', { name: 'Switch offline' }).click();
    await page.getByRole('status').getByText('files is offline on every gateway.').waitFor();
    const offline = await request(`${stack.url()}/admin/api/remotes`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(JSON.parse(offline.body.toString()).remotes[0]).toMatchObject({ state: 'offline' });
    await page.getByRole('button', { name: 'Switch online' }).click();
    await page.getByRole('status').getByText('files is online on every gateway.').waitFor();
  });

  it('refuses a form another site posts with the session cookie, and one without its form token', async () => {
    elsewhere.set('evil.html', {
      contentType: 'text/html',
      body: `<form id="f" method="post" action="${stack.url()}/admin/remotes/files/flush">
        <input name="form_token" value="guessed"></form>`,
    });
    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const evil = await context.newPage();
    await evil.goto(`${elsewhere.url}/evil.html`, { timeout: 10_000 });
    const answered = evil.waitForResponse((r) => r.url().endsWith('/admin/remotes/files/flush'), {
      timeout: 10_000,
    });
    await evil.locator('#f').evaluate((form) => (form as unknown as { submit(): void }).submit());
    const refused = await answered;
    // refused for its origin, before its (guessed) form token is even looked at
    expect([refused.status(), (await refused.json()).error]).toEqual([403, 'forbidden']);

    const posted = await request(`${stack.url()}/admin/remotes/files/flush`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'form_token=',
    });
    expect(posted.status).toBe(403);
    expect(JSON.parse(posted.body.toString()).error).toBe('bad_token');
    expect((await file('tools/lib-2.1.tar.gz')).headers['x-artifact-source']).toBe('cache');
    await evil.close();

    // nor can a link make a console page say another site's words: a notice is signed
    const lure = 'Your session ended: enter the admin token at evil.example';
    await page.goto(`${stack.url()}/admin/remotes/files?done=${encodeURIComponent(lure)}`);
    await page.getByRole('heading', { name: 'files (generic)' }).waitFor();
    await expect(page.locator('main').innerText()).resolves.not.toContain('evil.example');
  });

  it('shows a remote whose upstream stopped with its circuit open', async () => {
    await upstream.stop();
    try {
      expect((await file('tools/missing-1.tar.gz')).status).toBeGreaterThanOrEqual(500);
      await waitFor(
        async () => {
          await page.goto(`${stack.url()}/admin`);
          const row = await page.locator('tbody tr', { hasText: 'generic' }).first().innerText();
          return /circuit open/.test(row);
        },
        { description: 'the overview to show the open circuit', timeoutMs: 20_000 },
      );
      await shot('circuit-open');
    } finally {
      await upstream.start();
    }
  });

  it('logs out: the cookie goes and the pages ask for the token again', async () => {
    await page.goto(`${stack.url()}/admin`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await context.cookies()).toEqual([]);
    await page.goto(`${stack.url()}/admin/remotes/files`);
    await page.getByLabel('Admin token').waitFor();
  });
});
