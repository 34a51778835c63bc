import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from '../helpers/http';
import { scratchDir } from '../helpers/isolated-services';
import { RecordingProxy, Verdaccio, npm } from '../helpers/npm-registry';
import { Stack } from '../helpers/stack';
import { runCommand } from '../../tools/processes';

/**
 * npm install and npm ci against an npm remote (docs/FORMATS.md) whose upstream is verdaccio, a
 * real npm registry, with packages this spec publishes: a scoped and an unscoped one, and one
 * whose tarball is changed on verdaccio's disk after it was published.
 */
describe('npm through the cache (npm remote)', () => {
  let registry: Verdaccio;
  let stack: Stack;
  let dir: string;
  let tamperedIntegrity: string;
  const registryUrl = () => `${stack.url()}/api/v1/remote/npm/`;
  const upstream = new RecordingProxy(() => registry.url);
  const upstreamGets = (path: string) => upstream.count(path);

  async function project(name: string, dependencies: Record<string, string>): Promise<string> {
    const root = join(dir, name);
    await mkdir(root, { recursive: true });
    await writeFile(
      join(root, 'package.json'),
      JSON.stringify({ name, version: '1.0.0', private: true, dependencies }),
    );
    return root;
  }

  async function required(root: string, name: string): Promise<string> {
    const { stdout } = await runCommand(
      process.execPath,
      ['-e', `process.stdout.write(require(${JSON.stringify(name)}))`],
      { cwd: root },
    );
    return stdout;
  }

  beforeAll(async () => {
    registry = await Verdaccio.start();
    await registry.publish('@acme/left-pad', '1.0.0', 'left 1.0');
    await registry.publish('right-pad', '2.0.0', 'right 2.0', { '@acme/left-pad': '^1.0.0' });
    await registry.publish('tampered-lib', '1.0.0', 'tampered 1.0');
    const tarball = '/tampered-lib/-/tampered-lib-1.0.0.tgz';
    const bytes = Buffer.from(await (await fetch(`${registry.url}${tarball}`)).arrayBuffer());
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    upstream.replace(tarball, bytes);
    tamperedIntegrity = createHash('sha512').update(bytes).digest('base64');
    await upstream.start();
    dir = await scratchDir('npm');
    stack = await Stack.start({
      remotes: { npm: { package: 'npm', base_url: upstream.url, mutable_ttl: 600 } },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
    await registry?.stop();
  });

  it('a cold npm install gets packuments and tarballs through the cache, each asked upstream once', async () => {
    const root = await project('cold', { 'right-pad': '^2.0.0' });
    await npm(['install', '--registry', registryUrl()], root);

    expect(await required(root, 'right-pad')).toBe('right 2.0');
    expect(await required(root, '@acme/left-pad')).toBe('left 1.0');
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8'));
    const resolved = lock.packages['node_modules/@acme/left-pad'].resolved as string;
    expect(resolved).toMatch(
      new RegExp(
        `^${registryUrl()}_tarballs/sha512-[0-9a-f]{128}/@acme/left-pad/-/left-pad-1\\.0\\.0\\.tgz$`,
      ),
    );
    expect(upstreamGets('/right-pad')).toBe(1);
    expect(upstreamGets('/@acme/left-pad')).toBe(1);
    expect(upstreamGets('/right-pad/-/right-pad-2.0.0.tgz')).toBe(1);
    expect(upstreamGets('/@acme/left-pad/-/left-pad-1.0.0.tgz')).toBe(1);
  });

  it('tarball links name the host the client reached the cache by; the two packument forms are cached apart', async () => {
    const abbreviated = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*';
    const viaProxy = await request(`${registryUrl()}@acme%2fleft-pad`, {
      headers: {
        accept: abbreviated,
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'cache.example.org',
      },
    });
    const tarball = JSON.parse(viaProxy.body.toString()).versions['1.0.0'].dist.tarball as string;
    expect(tarball).toMatch(
      /^https:\/\/cache\.example\.org\/api\/v1\/remote\/npm\/_tarballs\/sha512-[0-9a-f]{128}\/@acme\/left-pad\/-\/left-pad-1\.0\.0\.tgz$/,
    );
    expect(Number(viaProxy.headers['content-length'])).toBe(viaProxy.body.length);
    expect(viaProxy.headers.vary).toBe('Accept');

    const full = await request(`${registryUrl()}@acme/left-pad`, {
      headers: { accept: 'application/json', host: 'mirror.example.org:8080' },
    });
    expect(JSON.parse(full.body.toString()).versions['1.0.0'].dist.tarball).toMatch(
      /^http:\/\/mirror\.example\.org:8080\/api\/v1\/remote\/npm\/_tarballs\//,
    );
    expect(stack.storedKeys()).toEqual(
      expect.arrayContaining([
        'npm/@acme/left-pad/_packument/abbreviated.json',
        'npm/@acme/left-pad/_packument/full.json',
      ]),
    );
  });

  it('npm ci from the lockfile, with the upstream stopped, is served from the cache', async () => {
    const root = await project('ci', { 'right-pad': '^2.0.0' });
    await cp(join(dir, 'cold', 'package-lock.json'), join(root, 'package-lock.json'));
    await upstream.stop();
    try {
      await npm(['ci', '--registry', registryUrl()], root);
      expect(await required(root, 'right-pad')).toBe('right 2.0');
      expect(await required(root, '@acme/left-pad')).toBe('left 1.0');
      // and a new install, packuments included
      const again = await project('offline', { 'right-pad': '^2.0.0' });
      await npm(['install', '--registry', registryUrl()], again);
      expect(await required(again, 'right-pad')).toBe('right 2.0');
    } finally {
      await upstream.start();
    }
  });

  it('a tarball whose bytes do not match the packument is never served whole: npm fails, nothing is stored', async () => {
    const root = await project('tampered', { 'tampered-lib': '1.0.0' });
    const failure = await npm(['install', '--registry', registryUrl()], root).then(
      () => 'installed',
      (error: Error) => error.message,
    );
    expect(failure).not.toBe('installed');
    // npm never had the tampered tarball whole, whose sha512 an EINTEGRITY error would name.
    expect(failure).not.toContain(tamperedIntegrity);
    expect(upstreamGets('/tampered-lib/-/tampered-lib-1.0.0.tgz')).toBeGreaterThanOrEqual(1);
    expect(stack.storedKeys().filter((key) => key.includes('tampered-lib-1.0.0.tgz'))).toEqual([]);
  });
});
