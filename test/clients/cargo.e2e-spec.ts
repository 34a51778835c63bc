import { join } from 'node:path';
import {
  type BuiltCrate,
  buildCrate,
  cargo,
  consumer,
  indexPath,
  publishRegistry,
} from '../helpers/cargo-registry';
import { request, sha256Of } from '../helpers/http';
import { scratchDir } from '../helpers/isolated-services';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';
import { runCommand } from '../../tools/processes';

/**
 * cargo with a cargo remote as its source replacement (docs/FORMATS.md): a sparse registry on a
 * loopback upstream, its crates (packaged by cargo) on a second host (files_url), and cargo with
 * a CARGO_HOME of its own for each run.
 */
describe('cargo through the cache (cargo remote, sparse registry)', () => {
  const index = new UpstreamServer();
  const filesHost = new UpstreamServer();
  const PREFIX = 'cargo';
  let stack: Stack;
  let dir: string;
  let helper: BuiltCrate;
  let short: BuiltCrate;
  let tampered: BuiltCrate;
  let evil: Buffer;
  let paths: Map<string, string>;
  const registryUrl = () => `${stack.url()}/api/v1/remote/cargo/`;

  async function build(name: string, crates: BuiltCrate[]): Promise<string> {
    const root = await consumer(join(dir, name), registryUrl(), crates);
    const home = join(dir, name, 'cargo-home');
    await cargo(['build', '--quiet'], root, home);
    const { stdout } = await runCommand(join(root, 'target', 'debug', 'app'), []);
    return stdout;
  }

  beforeAll(async () => {
    await index.start();
    await filesHost.start();
    dir = await scratchDir('cargo');
    helper = await buildCrate(dir, 'tiny-helper', '1.0.0');
    short = await buildCrate(dir, 'abc', '0.3.1');
    tampered = await buildCrate(dir, 'tampered-crate', '1.0.0');
    evil = Buffer.from(tampered.bytes);
    evil[Math.floor(evil.length / 2)] ^= 0xff;
    paths = publishRegistry(index, PREFIX, filesHost, [
      { crate: helper },
      { crate: short },
      { crate: tampered, served: evil },
    ]);
    stack = await Stack.start({
      remotes: {
        cargo: {
          package: 'cargo',
          base_url: `${index.url}/${PREFIX}/index`,
          files_url: filesHost.url,
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await index.stop();
    await filesHost.stop();
  });

  it('a cold cargo build gets the index and the crates through the cache, each asked upstream once', async () => {
    expect(await build('cold', [helper, short])).toBe(`${helper.value}\n${short.value}\n`);
    expect(index.count(`${PREFIX}/index/config.json`)).toBe(1);
    expect(index.count(`${PREFIX}/index/${indexPath('tiny-helper')}`)).toBe(1);
    expect(index.count(`${PREFIX}/index/3/a/abc`)).toBe(1);
    for (const crate of [helper, short]) {
      expect(filesHost.count(paths.get(crate.name)!)).toBe(1);
    }
  });

  it("config.json's dl leads to the cache, by the host the client reached it by, with the checksum in the path", async () => {
    const config = await request(`${registryUrl()}config.json`, {
      headers: { host: 'cache.example.org:8080' },
    });
    expect(JSON.parse(config.body.toString())).toEqual({
      dl: 'http://cache.example.org:8080/api/v1/remote/cargo/files/{sha256-checksum}/files-host/crates/{crate}/{version}/download',
      api: `${index.url}/${PREFIX}/api`,
    });
  });

  it('a second build, with the upstream and the files host stopped, is served from the cache', async () => {
    const before = index.requests.length + filesHost.requests.length;
    await index.stop();
    await filesHost.stop();
    try {
      expect(await build('offline', [helper, short])).toBe(`${helper.value}\n${short.value}\n`);
    } finally {
      await index.start();
      await filesHost.start();
    }
    expect(index.requests.length + filesHost.requests.length).toBe(before);
  });

  it('a crate whose bytes do not match the index is never served whole: cargo fails, nothing is stored', async () => {
    const failure = await build('tampered', [tampered]).then(
      () => 'built',
      (error: Error) => error.message,
    );
    expect(failure).not.toBe('built');
    expect(filesHost.count(paths.get(tampered.name)!)).toBeGreaterThanOrEqual(1);
    expect(stack.storedKeys().filter((key) => key.includes('tampered-crate'))).toEqual(
      expect.not.arrayContaining([expect.stringContaining('/download')]),
    );
    const direct = await request(
      `${registryUrl()}files/${tampered.sha256}/files-host/${paths.get(tampered.name)}`,
    );
    expect(direct.status === 200 && direct.complete).toBe(false);
    expect(sha256Of(direct.body)).not.toBe(sha256Of(evil));
  });
});
