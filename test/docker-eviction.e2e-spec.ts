import { randomBytes } from 'node:crypto';
import { request } from './helpers/http';
import { metricValue } from './helpers/prometheus-text';
import { type PublishedImage, digestOf, publishImage } from './helpers/registry-images';
import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';
import { waitFor } from '../tools/wait-for';

const KiB = 1024;
const TOKEN = 'docker-eviction-admin-token';
const admin = { authorization: `Bearer ${TOKEN}` };

interface PassReport {
  removed: Array<{ remote: string; path: string; reason: string }>;
  objects: number;
}

const hexOf = (bytes: Buffer) => digestOf(bytes).slice('sha256:'.length);

/**
 * Docker remotes under a size cap (docs/STORAGE.md "Docker remotes"): an image's pull by tag is
 * a use of its manifests and blobs, nothing a cached manifest names goes before it, and a layer
 * two images share stays while one of them is cached. On both storage drivers.
 */
describe.each([['fs'], ['s3']] as const)('docker eviction (%s storage)', (storage) => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  const shared = randomBytes(256 * KiB);
  const blobsOf = () => [randomBytes(256 * KiB), shared, randomBytes(256 * KiB)];
  let a: PublishedImage;
  let b: PublishedImage;
  let bBlobs: Buffer[];

  const pull = (remote: string, path: string) => request(`${stack.url()}/v2/${remote}/${path}`);
  /** What a client pulling one image asks for, in its order; the sources it was served from. */
  const pullImage = async (remote: string, image: PublishedImage) => {
    const sources: string[] = [];
    for (const path of [image.index, ...image.manifests, ...image.blobs]) {
      const response = await pull(remote, path);
      expect(response.status).toBe(200);
      sources.push(String(response.headers['x-artifact-source']));
    }
    return sources;
  };
  const evict = async (query = '') => {
    const response = await request(`${stack.url()}/admin/api/evict${query}`, {
      method: 'POST',
      headers: admin,
    });
    expect(response.status).toBe(200);
    return JSON.parse(response.body.toString()) as PassReport;
  };
  const usedSince = (path: string, since: Date) =>
    waitFor(
      async () => {
        const rows = await stack.query<{ n: string }>(
          `SELECT count(*) AS n FROM cached_artifacts
            WHERE remote = 'hub' AND path = $1 AND last_accessed_at >= $2`,
          [path, since],
        );
        return Number(rows[0].n) === 1;
      },
      { description: `a use of ${path} recorded`, timeoutMs: 15_000 },
    );

  beforeAll(async () => {
    await upstream.start();
    a = publishImage(upstream, 'registry', 'library/a', '1', [
      { architecture: 'amd64', blobs: blobsOf() },
    ]);
    bBlobs = blobsOf();
    b = publishImage(upstream, 'registry', 'library/b', '1', [
      { architecture: 'amd64', blobs: bBlobs },
    ]);
    stack = await Stack.start({
      remotes: {
        hub: { package: 'docker', base_url: `${upstream.url}/registry`, max_size: '1MiB' },
        mirror: { package: 'docker', base_url: `${upstream.url}/registry` },
      },
      storage_limits: { evict_interval: 3600 },
      storage,
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('evicts the image nobody pulls, keeps the layer another image shares, and fetches it again', async () => {
    await pullImage('hub', a);
    // index by tag and by digest, manifest, three blobs
    await stack.recordsWritten('hub', 6);
    // b's copy of the shared layer is a hit on a's: one object, one record
    expect(await pullImage('hub', b)).toEqual(['remote', 'remote', 'remote', 'cache', 'remote']);
    await stack.recordsWritten('hub', 11);
    for (const image of [a, b]) {
      await pullImage('mirror', image);
    }
    await stack.recordsWritten('mirror', 11);

    // b is pulled again: a use of its manifest and, through it, of its blobs
    const since = new Date();
    expect((await pull('hub', b.index)).headers['x-artifact-source']).toBe('cache');
    await usedSince(b.blobs[2], since);

    // 1280 KiB and the documents over a 1 MiB cap: down to 90% of it takes image a, the
    // shared layer excepted (b's manifest names it)
    const pass = await evict();
    const aShared = `library/a/blobs/${digestOf(shared)}`;
    const aOwn = [a.index, `library/a/manifests/${a.indexDigest}`, ...a.manifests, ...a.blobs];
    expect(pass.removed.map((file) => file.path).sort()).toEqual(
      aOwn.filter((path) => path !== aShared).sort(),
    );
    expect(pass.removed.every((file) => file.remote === 'hub' && file.reason === 'size')).toBe(
      true,
    );
    if (storage === 'fs') {
      const held = stack.storedKeys().filter((key) => key.startsWith('hub/'));
      expect(held).toContain(`hub/_blobs/sha256/${hexOf(shared)}`);
      expect(held.filter((key) => key.includes('library/a'))).toEqual([]);
      expect(held).toHaveLength(6);
    }

    expect(await pullImage('hub', b)).toEqual(Array(5).fill('cache'));
    const repulled = new Date();
    expect(await pullImage('hub', a)).toEqual(['remote', 'remote', 'remote', 'cache', 'remote']);
    await usedSince(aShared, repulled);

    // As the pass left them: mirror (no cap) holds both images, the shared layer once for two
    // of them (256 KiB); b's three layers are stored once for both remotes (768 KiB), and so are
    // the documents held under several keys (b's index by tag and by digest in both remotes, its
    // manifest in both, a's index by tag and by digest in mirror: a few hundred bytes each).
    const metrics = (await request(`${stack.url()}/metrics`)).body.toString();
    const saved = metricValue(metrics, 'artifactcache_dedup_saved_bytes');
    expect(saved).toBeGreaterThan(1024 * KiB);
    expect(saved).toBeLessThan(1024 * KiB + 8 * KiB);
  });

  it('keeps a layer whose own use is old while a cached manifest names it, references read back from storage', async () => {
    // as an older release left them: no references recorded, the shared layer used long ago
    await stack.query(`UPDATE cached_artifacts SET refers_to = NULL WHERE remote = 'hub'`);
    await stack.query(
      `UPDATE cached_artifacts SET last_accessed_at = '2000-01-01'
        WHERE remote = 'hub' AND sha256 = $1`,
      [hexOf(shared)],
    );
    const dry = await evict('?dry_run=true');
    // a was fetched again last: b goes, the shared layer stays for a
    expect(dry.removed.map((file) => file.path).sort()).toEqual(
      [
        b.index,
        `library/b/manifests/${b.indexDigest}`,
        ...b.manifests,
        b.blobs[0],
        b.blobs[2],
      ].sort(),
    );
    const references = await stack.query<{ path: string; refers_to: string[] }>(
      `SELECT path, refers_to FROM cached_artifacts WHERE remote = 'hub' AND path LIKE 'library/b/%'`,
    );
    const of = (path: string) => references.find((row) => row.path === path)?.refers_to;
    expect(of(b.manifests[0])).toEqual(bBlobs.map(hexOf));
    expect(of(b.index)).toEqual([b.manifests[0].split('sha256:')[1]]);
    expect(of(b.blobs[0])).toBeNull();
  });
});
