import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type GoModule,
  buildModule,
  go,
  goConsumer,
  moduleFiles,
  publishModules,
} from '../helpers/go-proxy';
import { request } from '../helpers/http';
import { scratchDir } from '../helpers/isolated-services';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';
import { runCommand } from '../../tools/processes';

/**
 * go mod download and go build with GOPROXY set to a go remote (docs/FORMATS.md): a module
 * proxy tree on a loopback upstream (one module with a capital in its path, which GOPROXY
 * case-encodes), a checksum database's files on a second one, and go with caches of its own.
 */
describe('go through the cache (go remote, GOPROXY)', () => {
  const upstream = new UpstreamServer();
  const sumdb = new UpstreamServer();
  const PREFIX = 'goproxy';
  let stack: Stack;
  let dir: string;
  let hello: GoModule;
  let greet: GoModule;
  let tampered: GoModule;
  const proxyUrl = () => `${stack.url()}/api/v1/remote/golang`;
  const sumdbName = () => `127.0.0.1:${sumdb.port}`;

  async function build(name: string, modules: GoModule[], goSum = ''): Promise<string> {
    const root = await goConsumer(join(dir, name), modules, goSum);
    await go(['build', '-o', 'app', '.'], root, proxyUrl(), join(dir, 'build-cache'));
    return (await runCommand(join(root, 'app'), [])).stdout;
  }

  beforeAll(async () => {
    await upstream.start();
    await sumdb.start();
    dir = await scratchDir('go');
    hello = await buildModule(dir, 'example.org/hello', 'v1.0.0');
    greet = await buildModule(dir, 'example.org/Greet', 'v1.2.0');
    tampered = await buildModule(dir, 'example.org/tampered', 'v1.0.0');
    // A well-formed zip of other code under the same module and version: only go.sum tells.
    const evil = (
      await buildModule(join(dir, 'evil'), tampered.path, tampered.version, 'something else')
    ).files.zip;
    publishModules(upstream, PREFIX, [
      { module: hello },
      { module: greet },
      { module: tampered, zip: evil },
    ]);
    sumdb.set('sumdb/latest', { body: 'go.sum database tree\n1\nhash\n' });
    sumdb.set('sumdb/lookup/example.org/hello@v1.0.0', {
      body: '1\nexample.org/hello v1.0.0 h1:x\n',
    });
    sumdb.set('sumdb/tile/8/0/000.p/1', { body: 'tile bytes' });
    stack = await Stack.start({
      remotes: {
        golang: {
          package: 'go',
          base_url: `${upstream.url}/${PREFIX}`,
          sumdb_url: `${sumdb.url}/sumdb`,
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
    await sumdb.stop();
  });

  it('a cold go build gets every module file through the cache, each asked upstream once', async () => {
    expect(await build('cold', [hello, greet])).toBe(`${hello.value}\n${greet.value}\n`);
    for (const module of [hello, greet]) {
      const files = moduleFiles(PREFIX, module);
      expect(upstream.count(files.mod)).toBe(1);
      expect(upstream.count(files.zip)).toBe(1);
    }
    // go asks for a capital in a module path as `!` and the lower-case letter
    expect(upstream.count(`${PREFIX}/example.org/!greet/@v/v1.2.0.zip`)).toBe(1);
  });

  it('a second build, with the upstream stopped, is served from the cache', async () => {
    const before = upstream.requests.length;
    await upstream.stop();
    try {
      expect(await build('offline', [hello, greet])).toBe(`${hello.value}\n${greet.value}\n`);
    } finally {
      await upstream.start();
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('the checksum database is proxied: supported answered, lookups and tiles cached, another database a 404', async () => {
    const base = `${proxyUrl()}/sumdb/${sumdbName()}`;
    expect((await request(`${base}/supported`)).status).toBe(200);
    expect((await request(`${proxyUrl()}/sumdb/sum.example.org/supported`)).status).toBe(404);
    const lookup = await request(`${base}/lookup/example.org/hello@v1.0.0`);
    expect(lookup.body.toString()).toBe('1\nexample.org/hello v1.0.0 h1:x\n');
    expect((await request(`${base}/tile/8/0/000.p/1`)).body.toString()).toBe('tile bytes');
    expect((await request(`${base}/latest`)).status).toBe(200);
    await sumdb.stop();
    try {
      const again = await request(`${base}/lookup/example.org/hello@v1.0.0`);
      expect(again.headers['x-artifact-source']).toBe('cache');
      expect(sumdb.count('sumdb/lookup/example.org/hello@v1.0.0')).toBe(1);
    } finally {
      await sumdb.start();
    }
  });

  it('a module zip that does not match go.sum is rejected by go', async () => {
    // go.sum as go writes it for the untampered module (from a file:// proxy of the same tree)
    const good = join(dir, 'good-proxy');
    const files = moduleFiles('', tampered);
    for (const [what, path] of Object.entries(files)) {
      await mkdir(dirname(join(good, path)), { recursive: true });
      await writeFile(join(good, path), tampered.files[what]);
    }
    const probe = await goConsumer(join(dir, 'probe'), [tampered]);
    await go(['mod', 'tidy'], probe, `file://${good}`, join(dir, 'build-cache'));
    const goSum = await readFile(join(probe, 'go.sum'), 'utf8');
    expect(goSum).toContain(`${tampered.path} ${tampered.version} h1:`);

    const failure = await build('tampered', [tampered], goSum).then(
      () => 'built',
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/checksum mismatch|SECURITY ERROR/);
  });
});
