import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request, sha256Of } from '../helpers/http';
import {
  type BuiltWheel,
  buildWheel,
  installedValue,
  pipInstall,
  publishIndex,
} from '../helpers/pypi-index';
import { scratchDir } from '../helpers/isolated-services';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';

/**
 * pip against a pypi remote (docs/FORMATS.md): a simple index on a loopback upstream, one page
 * in PEP 503 HTML with relative links, one in PEP 691 JSON linking to a second host (files_url),
 * and pip with no configuration or cache of its own.
 */
describe('pip through the cache (pypi remote)', () => {
  const index = new UpstreamServer();
  const filesHost = new UpstreamServer();
  const PREFIX = 'pypi';
  let stack: Stack;
  let dir: string;
  let app: BuiltWheel;
  let helper: BuiltWheel;
  let tampered: BuiltWheel;
  let evil: Buffer;
  let files: ReturnType<typeof publishIndex>;
  const indexUrl = () => `${stack.url()}/api/v1/remote/pypi/simple/`;
  const asked = () => index.requests.length + filesHost.requests.length;

  beforeAll(async () => {
    await index.start();
    await filesHost.start();
    dir = await scratchDir('pip');
    app = await buildWheel(dir, 'demo-app', '1.0', ['helper-lib']);
    helper = await buildWheel(dir, 'helper-lib', '2.1');
    tampered = await buildWheel(dir, 'tampered-pkg', '1.0');
    evil = Buffer.from(tampered.bytes);
    evil[evil.length - 30] ^= 0xff;
    files = publishIndex(index, PREFIX, [
      { wheel: app, form: 'html' },
      { wheel: helper, form: 'json', filesHost },
      { wheel: tampered, form: 'html', served: evil },
    ]);
    stack = await Stack.start({
      remotes: {
        pypi: {
          package: 'pypi',
          base_url: `${index.url}/${PREFIX}`,
          files_url: filesHost.url,
        },
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await index.stop();
    await filesHost.stop();
  });

  it('a cold install gets every page and file through the cache, each asked upstream once', async () => {
    const target = join(dir, 'cold');
    const { stdout } = await pipInstall(indexUrl(), target, ['demo-app']);

    expect(stdout).toMatch(/Successfully installed demo-app-1\.0 helper-lib-2\.1/);
    expect(await installedValue(target, app.module)).toBe(app.value);
    expect(await installedValue(target, helper.module)).toBe(helper.value);
    for (const wheel of [app, helper]) {
      const file = files.get(wheel.project)!;
      expect(file.server.count(file.path)).toBe(1);
    }
    expect(index.count(`${PREFIX}/simple/demo-app/`)).toBe(1);
    expect(index.count(`${PREFIX}/simple/helper-lib/`)).toBe(1);
    // pip asks for JSON first: the HTML-only page is stored as the upstream answered it.
    expect(index.requests[0].headers.accept).toContain('application/vnd.pypi.simple.v1+json');
  });

  it('the pages link to the cache, with the digests and attributes the upstream gave', async () => {
    const html = await request(`${indexUrl()}demo-app/`, { headers: { accept: 'text/html' } });
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers.vary).toBe('Accept');
    expect(html.body.toString()).toContain(
      `href="/api/v1/remote/pypi/files/${app.sha256}/index-host/packages/${app.fileName}#sha256=${app.sha256}" data-requires-python="&gt;=3.7"`,
    );
    const json = await request(`${indexUrl()}Helper_Lib`, {
      headers: { accept: 'application/vnd.pypi.simple.v1+json' },
    });
    expect(JSON.parse(json.body.toString()).files[0]).toEqual({
      filename: helper.fileName,
      url: `/api/v1/remote/pypi/files/${helper.sha256}/files-host/files/${helper.fileName}`,
      hashes: { sha256: helper.sha256 },
      'requires-python': '>=3.7',
    });
  });

  it('a second install, with the upstream and the files host stopped, is served from the cache', async () => {
    const before = asked();
    await index.stop();
    await filesHost.stop();
    try {
      const target = join(dir, 'offline');
      const { stdout } = await pipInstall(indexUrl(), target, ['demo-app']);

      expect(stdout).toMatch(/Successfully installed demo-app-1\.0 helper-lib-2\.1/);
      expect(await installedValue(target, helper.module)).toBe(helper.value);
    } finally {
      await index.start();
      await filesHost.start();
    }
    expect(asked()).toBe(before);
  });

  it('a file whose bytes do not match the index is never served whole: pip fails, nothing is stored', async () => {
    const target = join(dir, 'tampered');
    const failure = await pipInstall(indexUrl(), target, ['tampered-pkg']).then(
      () => 'installed',
      (error: Error) => error.message,
    );
    // A 502 when the fetch failed before the answer began; else a transfer cut before its last
    // byte, which pip hashes: never the tampered file whole, whose digest it would name.
    expect(failure).toMatch(
      new RegExp(`HTTP error 502 while getting|Expected sha256 ${tampered.sha256}`),
    );
    expect(failure).not.toContain(sha256Of(evil));
    expect(existsSync(join(target, tampered.module))).toBe(false);
    const file = files.get(tampered.project)!;
    expect(file.server.count(file.path)).toBeGreaterThanOrEqual(1);
    expect(stack.storedKeys().some((key) => key.includes(tampered.fileName))).toBe(false);
    // Asked directly, the file is cut short (or refused) rather than completed.
    const direct = await request(
      `${stack.url()}/api/v1/remote/pypi/files/${tampered.sha256}/index-host/packages/${tampered.fileName}`,
    );
    expect(direct.status === 200 && direct.complete).toBe(false);
  });
});
