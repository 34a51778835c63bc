import { join } from 'node:path';
import { ChecksumDb } from '../helpers/checksum-db';
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
 * go build with GOPROXY set to a go remote and GOSUMDB verifying through it (docs/FORMATS.md):
 * a module proxy tree on a loopback upstream (one module with a capital in its path, which
 * GOPROXY case-encodes), a checksum database with a key of its own on a second one, and go with
 * module caches of its own for every build.
 */
describe('go through the cache (go remote, GOPROXY and GOSUMDB)', () => {
  const upstream = new UpstreamServer();
  const sumdb = new UpstreamServer();
  const PREFIX = 'goproxy';
  let stack: Stack;
  let dir: string;
  let db: ChecksumDb;
  let hello: GoModule;
  let greet: GoModule;
  let tampered: GoModule;
  const proxyUrl = () => `${stack.url()}/api/v1/remote/golang`;
  const asked = () => upstream.requests.length + sumdb.requests.length;

  async function build(name: string, modules: GoModule[]): Promise<string> {
    const root = await goConsumer(join(dir, name), modules);
    const options = {
      proxy: proxyUrl(),
      buildCache: join(dir, 'build-cache'),
      sumdb: db.verifierKey,
    };
    await go(['build', '-o', 'app', '.'], root, options);
    return (await runCommand(join(root, 'app'), [])).stdout;
  }

  beforeAll(async () => {
    await upstream.start();
    await sumdb.start();
    dir = await scratchDir('go');
    hello = await buildModule(dir, 'example.org/hello', 'v1.0.0');
    greet = await buildModule(dir, 'example.org/Greet', 'v1.2.0');
    tampered = await buildModule(dir, 'example.org/tampered', 'v1.0.0');
    // A well-formed zip of other code under the same module and version: only its hash tells.
    const evil = await buildModule(join(dir, 'evil'), tampered.path, tampered.version, 'other');
    publishModules(upstream, PREFIX, [
      { module: hello },
      { module: greet },
      { module: tampered, zip: evil.files.zip },
    ]);
    db = new ChecksumDb(`127.0.0.1:${sumdb.port}`);
    for (const module of [hello, greet, tampered]) {
      db.add(module.sums);
    }
    db.publish(sumdb, 'sumdb');
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

  it('a cold go build gets modules and their checksums through the cache, each asked upstream once', async () => {
    expect(await build('cold', [hello, greet])).toBe(`${hello.value}\n${greet.value}\n`);
    for (const module of [hello, greet]) {
      const files = moduleFiles(PREFIX, module);
      expect(upstream.count(files.mod)).toBe(1);
      expect(upstream.count(files.zip)).toBe(1);
    }
    // go asks for a capital in a module path as `!` and the lower-case letter
    expect(upstream.count(`${PREFIX}/example.org/!greet/@v/v1.2.0.zip`)).toBe(1);
    // GOSUMDB went through the cache: the database was asked by it, once per file
    expect(sumdb.count('sumdb/lookup/example.org/hello@v1.0.0')).toBe(1);
    expect(sumdb.count('sumdb/lookup/example.org/!greet@v1.2.0')).toBe(1);
    expect(sumdb.count('sumdb/tile/8/0/000.p/3')).toBe(1);
  });

  it('a second build, with the upstream and the checksum database stopped, is served from the cache', async () => {
    const before = asked();
    await upstream.stop();
    await sumdb.stop();
    try {
      expect(await build('offline', [hello, greet])).toBe(`${hello.value}\n${greet.value}\n`);
    } finally {
      await upstream.start();
      await sumdb.start();
    }
    expect(asked()).toBe(before);
  });

  it("answers supported for its checksum database only; another's is a 404 that sends go there", async () => {
    const name = `127.0.0.1:${sumdb.port}`;
    const supported = await request(`${proxyUrl()}/sumdb/${name}/supported`);
    expect(supported.status).toBe(200);
    expect((await request(`${proxyUrl()}/sumdb/sum.example.org/supported`)).status).toBe(404);
    const lookup = await request(`${proxyUrl()}/sumdb/${name}/lookup/example.org/hello@v1.0.0`);
    expect(lookup.headers['x-artifact-source']).toBe('cache');
    expect(lookup.body.toString()).toContain(hello.sums);
  });

  it('a module zip whose hash is not the one in the checksum database is rejected by go', async () => {
    const failure = await build('tampered', [tampered]).then(
      () => 'built',
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/SECURITY ERROR|checksum mismatch/);
    expect(upstream.count(moduleFiles(PREFIX, tampered).zip)).toBe(1);
  });
});
