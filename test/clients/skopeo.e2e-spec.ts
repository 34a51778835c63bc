import { request } from '../helpers/http';
import { DockerRegistry, Skopeo } from '../helpers/docker-registry';
import {
  buildMultiArchImage,
  buildSingleArchImage,
  MEDIA_TYPES,
  readLayout,
  type OciLayout,
  type ReadLayout,
} from '../helpers/oci-image';
import type { CommandResult } from '../../tools/processes';
import { Stack } from '../helpers/stack';
import { TokenIssuer } from '../helpers/token-issuer';

/**
 * skopeo 1.9 pulling through the gateway's Docker Registry v2 routes (docs/HTTP-API.md) from a real
 * upstream registry (distribution 2.8, see helpers/docker-registry.ts), with images built as OCI
 * layouts (helpers/oci-image.ts): a single-arch image with a ~20 MiB layer and a two-platform
 * index. §5: blobs and manifests by digest are immutable, so a second pull fetches no blob and,
 * behind `auth: token`, asks the token service for nothing it needs no upstream request for.
 * §3: `docker.default_remote` (registry-mirror mode), also as a registries.conf mirror.
 */

const REMOTE = 'hub';
const SINGLE_REPO = 'acme/single';
const MULTI_REPO = 'acme/multi';
const MANIFEST_ACCEPT = [
  MEDIA_TYPES.manifest,
  MEDIA_TYPES.index,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

interface Images {
  single: OciLayout;
  multi: OciLayout;
}

let builtImages: Promise<Images> | undefined;
/** Built once per file: every describe pushes the same layouts to its own registry. */
function images(): Promise<Images> {
  builtImages ??= (async () => ({
    single: await buildSingleArchImage(),
    multi: await buildMultiArchImage(),
  }))();
  return builtImages;
}

interface Pulled {
  layout: ReadLayout;
  result: CommandResult;
}

/** `skopeo copy <src> oci:<fresh dir>:<tag>`: a fresh directory, so every blob is fetched. */
async function pull(skopeo: Skopeo, source: string, flags: string[] = []): Promise<Pulled> {
  const out = await skopeo.outputDir();
  const result = await skopeo.run(['copy', ...flags, source, `oci:${out}:pulled`]);
  return { layout: await readLayout(out, 'pulled'), result };
}

/** What skopeo wrote has exactly the digests that were pushed. */
function expectSameImage(pulled: ReadLayout, built: OciLayout): void {
  expect(pulled.top.digest).toBe(built.top.digest);
  expect(pulled.top.mediaType).toBe(built.top.mediaType);
  if (built.kind === 'index') {
    expect(pulled.children.map((c) => c.digest)).toEqual(
      built.images.map((i) => i.manifest.digest),
    );
  }
  expect(
    pulled.images.map((i) => ({
      manifest: i.manifestDigest,
      config: i.manifest.config.digest,
      layers: i.manifest.layers.map((l) => `${l.digest}/${l.size}`),
    })),
  ).toEqual(
    built.images.map((i) => ({
      manifest: i.manifest.digest,
      config: i.config.digest,
      layers: i.layers.map((l) => `${l.digest}/${l.size}`),
    })),
  );
}

/** The registry's read requests (pushes left out), one a line, for failure messages. */
function traffic(registry: DockerRegistry): string {
  return registry
    .requests()
    .filter((r) => r.method === 'GET' || r.method === 'HEAD')
    .map((r) => `  ${r.method} ${r.uri} -> ${r.status}`)
    .join('\n');
}

/** Each blob of `built` was fetched from the registry exactly once (one upstream download, §5). */
async function expectEachBlobFetchedOnce(
  registry: DockerRegistry,
  repo: string,
  built: OciLayout,
): Promise<void> {
  const blobs = built.images.flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.digest)]);
  await registry.settle();
  const counts = blobs.map((digest) => `${digest}: ${registry.blobGets(repo, digest)}`);
  if (counts.some((c) => !c.endsWith(': 1'))) {
    console.log(`registry requests:\n${traffic(registry)}`);
  }
  expect(counts).toEqual(blobs.map((digest) => `${digest}: 1`));
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

describe('skopeo through the cache: anonymous upstream registry', () => {
  let registry: DockerRegistry;
  let stack: Stack;
  let skopeo: Skopeo;
  let built: Images;
  let gw: string;

  beforeAll(async () => {
    built = await images();
    skopeo = await Skopeo.create();
    registry = await DockerRegistry.start();
    await registry.push(skopeo, built.single, SINGLE_REPO);
    await registry.push(skopeo, built.multi, MULTI_REPO);
    stack = await Stack.start({
      remotes: { [REMOTE]: { package: 'docker', base_url: registry.url } },
    });
    gw = `127.0.0.1:${stack.gateways[0].port}`;
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await registry?.stop();
  });

  it('pulls a single-arch image cold, then again with no blob fetched upstream', async () => {
    const source = `docker://${gw}/${REMOTE}/${SINGLE_REPO}:${built.single.tag}`;

    const cold = await pull(skopeo, source, ['--src-tls-verify=false']);
    expectSameImage(cold.layout, built.single);
    await expectEachBlobFetchedOnce(registry, SINGLE_REPO, built.single);

    const before = registry.requests().length;
    const warm = await pull(skopeo, source, ['--src-tls-verify=false']);
    expectSameImage(warm.layout, built.single);
    const upstreamDuringWarm = (await registry.settle()).slice(before);
    // A manifest by tag may be revalidated (a HEAD); blobs are immutable and never asked again.
    expect(upstreamDuringWarm.filter((r) => r.path.includes('/blobs/'))).toEqual([]);

    const size = built.single.images[0].layers.reduce((sum, l) => sum + l.size, 0);
    console.log(
      `skopeo copy of ${(size / 1024 / 1024).toFixed(1)} MiB (3 layers) through the cache: ` +
        `cold ${seconds(cold.result.ms)}, warm ${seconds(warm.result.ms)}; upstream requests ` +
        `during the warm pull: ${upstreamDuringWarm.map((r) => `${r.method} ${r.path}`).join(', ') || 'none'}`,
    );
  });

  it('serves the exact manifest bytes: skopeo inspect --raw equals the upstream', async () => {
    const direct = await skopeo.inspectRaw(
      `docker://${registry.host}/${SINGLE_REPO}:${built.single.tag}`,
      ['--tls-verify=false'],
    );
    const viaCache = await skopeo.inspectRaw(
      `docker://${gw}/${REMOTE}/${SINGLE_REPO}:${built.single.tag}`,
      ['--tls-verify=false'],
    );
    const byDigest = await skopeo.inspectRaw(
      `docker://${gw}/${REMOTE}/${SINGLE_REPO}@${built.single.top.digest}`,
      ['--tls-verify=false'],
    );

    expect(direct).toBe(built.single.top.bytes.toString('utf8'));
    expect(viaCache).toBe(direct);
    expect(byDigest).toBe(direct);
  });

  it('copies a multi-arch index with --all: every child manifest and layer', async () => {
    const source = `docker://${gw}/${REMOTE}/${MULTI_REPO}:${built.multi.tag}`;

    const pulled = await pull(skopeo, source, ['--all', '--src-tls-verify=false']);

    expectSameImage(pulled.layout, built.multi);
    expect(pulled.layout.children.map((c) => c.platform)).toEqual(
      built.multi.images.map((i) => i.platform),
    );
    await expectEachBlobFetchedOnce(registry, MULTI_REPO, built.multi);
    const raw = await skopeo.inspectRaw(source, ['--tls-verify=false']);
    expect(raw).toBe(built.multi.top.bytes.toString('utf8'));

    // Without --all skopeo picks one platform: the index by tag, then that child by digest.
    const arm = await pull(skopeo, source, [
      '--override-arch',
      'arm64',
      '--override-variant',
      'v8',
      '--src-tls-verify=false',
    ]);
    expect(arm.layout.top.digest).toBe(built.multi.images[1].manifest.digest);
    expect(arm.layout.images[0].manifest.layers.map((l) => l.digest)).toEqual(
      built.multi.images[1].layers.map((l) => l.digest),
    );
  });

  it('lists tags through the cache (skopeo list-tags)', async () => {
    const result = await skopeo.run([
      'list-tags',
      '--tls-verify=false',
      `docker://${gw}/${REMOTE}/${SINGLE_REPO}`,
    ]);

    const listed = JSON.parse(result.stdout) as { Repository: string; Tags: string[] };
    expect(listed.Tags).toEqual([built.single.tag]);
  });

  it('a tag that does not exist: skopeo fails on a 404 MANIFEST_UNKNOWN', async () => {
    const missing = `${REMOTE}/${SINGLE_REPO}:no-such-tag`;

    const failure = skopeo.inspectRaw(`docker://${gw}/${missing}`, ['--tls-verify=false']);

    // skopeo prints the registry error's message: it parsed the `errors` document.
    await expect(failure).rejects.toThrow(/manifest unknown/i);
    const response = await request(
      `http://${gw}/v2/${REMOTE}/${SINGLE_REPO}/manifests/no-such-tag`,
      { headers: { Accept: MANIFEST_ACCEPT } },
    );
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(response.body.toString('utf8')) as {
      errors: { code: string; message: string }[];
    };
    expect(body.errors[0].code).toBe('MANIFEST_UNKNOWN');
    expect(typeof body.errors[0].message).toBe('string');
    const head = await request(`http://${gw}/v2/${REMOTE}/${SINGLE_REPO}/manifests/no-such-tag`, {
      method: 'HEAD',
      headers: { Accept: MANIFEST_ACCEPT },
    });
    expect(head.status).toBe(404);
  });
});

describe('skopeo through the cache: upstream behind auth: token', () => {
  let issuer: TokenIssuer;
  let registry: DockerRegistry;
  let stack: Stack;
  let skopeo: Skopeo;
  let built: Images;
  let gw: string;

  beforeAll(async () => {
    built = await images();
    skopeo = await Skopeo.create();
    issuer = await TokenIssuer.start({ allowAnonymous: false });
    registry = await DockerRegistry.start({ tokenAuth: issuer });
    await registry.push(skopeo, built.single, SINGLE_REPO);
    stack = await Stack.start({
      remotes: {
        [REMOTE]: {
          package: 'docker',
          base_url: registry.url,
          username: issuer.username,
          password: issuer.password,
        },
      },
    });
    gw = `127.0.0.1:${stack.gateways[0].port}`;
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await registry?.stop();
    await issuer?.stop();
  });

  it('the registry refuses anonymous pulls (so the cache must use the credentials)', async () => {
    await expect(
      skopeo.inspectRaw(`docker://${registry.host}/${SINGLE_REPO}:${built.single.tag}`, [
        '--tls-verify=false',
      ]),
    ).rejects.toThrow(/unauthorized|authentication required/i);
  });

  it('pulls through the cache with the remote credentials; a warm pull asks for no token', async () => {
    const source = `docker://${gw}/${REMOTE}/${SINGLE_REPO}:${built.single.tag}`;
    const issuedBefore = issuer.requests.length;

    const cold = await pull(skopeo, source, ['--src-tls-verify=false']);

    expectSameImage(cold.layout, built.single);
    await expectEachBlobFetchedOnce(registry, SINGLE_REPO, built.single);
    const coldTokens = issuer.requests.slice(issuedBefore);
    expect(coldTokens.length).toBeGreaterThan(0);
    expect(coldTokens.every((r) => r.user === issuer.username && r.status === 200)).toBe(true);
    expect(coldTokens.flatMap((r) => r.scopes)).toContain(`repository:${SINGLE_REPO}:pull`);

    // Warm, by tag: blobs come from the cache; a token is only needed if the tag is revalidated.
    const tokensBefore = issuer.requests.length;
    const registryBefore = registry.requests().length;
    const warm = await pull(skopeo, source, ['--src-tls-verify=false']);
    expectSameImage(warm.layout, built.single);
    const upstreamDuringWarm = (await registry.settle()).slice(registryBefore);
    const tokensDuringWarm = issuer.requests.length - tokensBefore;
    expect(upstreamDuringWarm.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    // No token without an upstream request that needs it (none at all while the tag is fresh).
    expect(tokensDuringWarm).toBeLessThanOrEqual(upstreamDuringWarm.length);

    // Warm, by digest: everything is immutable, so neither the registry nor its token service.
    const tokensBeforeDigest = issuer.requests.length;
    const registryBeforeDigest = registry.requests().length;
    const byDigest = await pull(
      skopeo,
      `docker://${gw}/${REMOTE}/${SINGLE_REPO}@${built.single.top.digest}`,
      ['--src-tls-verify=false'],
    );
    expectSameImage(byDigest.layout, built.single);
    expect(issuer.requests.length - tokensBeforeDigest).toBe(0);
    expect((await registry.settle()).slice(registryBeforeDigest)).toEqual([]);

    console.log(
      `skopeo copy through the cache from a token-auth upstream: cold ${seconds(cold.result.ms)} ` +
        `(${coldTokens.length} token requests), warm ${seconds(warm.result.ms)} ` +
        `(${tokensDuringWarm} token requests, upstream: ` +
        `${upstreamDuringWarm.map((r) => `${r.method} ${r.path}`).join(', ') || 'none'}), ` +
        `warm by digest ${seconds(byDigest.result.ms)}`,
    );
  });
});

describe('skopeo through the cache: registry-mirror mode (docker.default_remote)', () => {
  const MIRRORED_REPO = 'acme/mirrored';
  const FAKE_HOST = 'upstream.example.org';
  let registry: DockerRegistry;
  let stack: Stack;
  let skopeo: Skopeo;
  let built: Images;
  let gw: string;

  beforeAll(async () => {
    built = await images();
    skopeo = await Skopeo.create();
    registry = await DockerRegistry.start();
    await registry.push(skopeo, built.single, SINGLE_REPO);
    await registry.push(skopeo, built.single, MIRRORED_REPO);
    stack = await Stack.start({
      remotes: { [REMOTE]: { package: 'docker', base_url: registry.url } },
      docker: { default_remote: REMOTE },
      // The other describes use the fs driver; skopeo's pulls must work the same from S3.
      storage: 's3',
    });
    gw = `127.0.0.1:${stack.gateways[0].port}`;
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await registry?.stop();
  });

  it('pulls an image by its plain name, with no remote prefix (two clients at once)', async () => {
    const source = `docker://${gw}/${SINGLE_REPO}:${built.single.tag}`;

    // Both cold at the same time: still one upstream download per blob (docs/CACHING.md coalescing).
    const [first, second] = await Promise.all([
      pull(skopeo, source, ['--src-tls-verify=false']),
      pull(skopeo, source, ['--src-tls-verify=false']),
    ]);

    expectSameImage(first.layout, built.single);
    expectSameImage(second.layout, built.single);
    await expectEachBlobFetchedOnce(registry, SINGLE_REPO, built.single);
    // The prefixed form still names the remote (docs/CONFIGURATION.md) and is served from the same cache.
    const prefixed = await skopeo.inspectRaw(
      `docker://${gw}/${REMOTE}/${SINGLE_REPO}:${built.single.tag}`,
      ['--tls-verify=false'],
    );
    expect(prefixed).toBe(built.single.top.bytes.toString('utf8'));
  });

  it('is used as a registries.conf mirror of a registry that does not resolve', async () => {
    const mirrorClient = await Skopeo.create({
      registriesConf: [
        'unqualified-search-registries = []',
        '',
        '[[registry]]',
        `location = "${FAKE_HOST}"`,
        '',
        '[[registry.mirror]]',
        `location = "${gw}"`,
        'insecure = true',
        '',
      ].join('\n'),
    });

    // No --src-tls-verify=false: the mirror's `insecure = true` is what allows plain HTTP.
    const pulled = await pull(
      mirrorClient,
      `docker://${FAKE_HOST}/${MIRRORED_REPO}:${built.single.tag}`,
    );

    expectSameImage(pulled.layout, built.single);
    // Only the real registry has these digests, and it saw the cache ask for this image.
    await registry.settle();
    const manifestPath = `/v2/${MIRRORED_REPO}/manifests/${built.single.tag}`;
    expect(
      registry.count('GET', manifestPath) + registry.count('HEAD', manifestPath),
    ).toBeGreaterThan(0);
  });
});
