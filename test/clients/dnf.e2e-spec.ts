import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildRpm,
  DnfClient,
  largeRpm,
  RpmRepo,
  sha256File,
  type BuiltRpm,
} from '../helpers/rpm-repo';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';

/**
 * dnf (4.x, with the download plugin) against the gateway: the repository is a real createrepo_c
 * repository on a loopback upstream, dnf runs with private state (see DnfClient). docs/CONFIGURATION.md (rpm
 * defaults: packages and hash-named repodata immutable, repomd.xml mutable) and §5.
 */
describe('dnf through the cache (rpm remote)', () => {
  const upstream = new UpstreamServer();
  const PREFIX = 'el/9/x86_64/os';
  const REMOTE = 'dnf-rpm';
  /** the same repository, for dnf without the cache (a baseline for the timings) */
  const DIRECT_PREFIX = 'direct/os';
  const BIG_PREFIX = 'big/os';
  const BIG_REMOTE = 'dnf-rpm-big';
  const PKG = 'cachetest-hello';
  let stack: Stack;
  let repo: RpmRepo;
  let dnf: DnfClient;
  let v1: BuiltRpm;

  const upstreamPath = (rel: string) => `${PREFIX}/${rel}`;
  const viaCache = (rel: string) => `${stack.url()}/api/v1/remote/${REMOTE}/${rel}`;

  beforeAll(async () => {
    await upstream.start();
    // `~` and `+` are legal in RPM versions and common in real ones; they end up in the URL.
    v1 = await buildRpm({ name: PKG, version: '1.0~rc1+b1' });
    repo = await RpmRepo.create();
    await repo.add(v1);
    repo.publish(upstream, PREFIX);
    repo.publish(upstream, DIRECT_PREFIX);
    stack = await Stack.start({
      remotes: {
        [REMOTE]: {
          package: 'rpm',
          base_url: `${upstream.url}/${PREFIX}`,
          mutable_ttl: 2,
          check_mutable_updates: true,
        },
        [BIG_REMOTE]: { package: 'rpm', base_url: `${upstream.url}/${BIG_PREFIX}` },
      },
    });
    dnf = await DnfClient.create('cachetest', `${stack.url()}/api/v1/remote/${REMOTE}`);
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  /** Hash-named metadata files dnf fetched from the upstream (through the cache). */
  const repodataRequests = () =>
    upstream.requests.filter(
      (r) => r.path.startsWith(`${PREFIX}/repodata/`) && !r.path.endsWith('/repomd.xml'),
    );

  it('a cold makecache and download go through the cache and give the exact package', async () => {
    const cold = await dnf.makecache();
    const download = await dnf.download(PKG);

    expect(download.path.endsWith(v1.fileName)).toBe(true);
    expect(await sha256File(download.path)).toBe(v1.sha256);
    expect(upstream.count(upstreamPath(repo.packagePath(v1)))).toBe(1);
    expect(upstream.count(upstreamPath('repodata/repomd.xml'))).toBeGreaterThanOrEqual(1);
    console.log(
      `dnf makecache, cold cache: ${cold.ms.toFixed(0)} ms; ` +
        `dnf download (${v1.size} B, cold): ${download.ms.toFixed(0)} ms`,
    );
  });

  it('a second makecache and download (fresh dnf cache) are served from the cache', async () => {
    const metadataFetches = repodataRequests().length;
    // Each run starts from an empty dnf cache (a fresh CI runner), the artifact cache warm.
    const warm: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      await dnf.resetCache();
      warm.push((await dnf.makecache()).ms);
    }
    const download = await dnf.download(PKG);
    // dnf's own cache warm too: only repomd.xml is asked for again.
    const warmBoth = await dnf.makecache();

    expect(await sha256File(download.path)).toBe(v1.sha256);
    expect(upstream.count(upstreamPath(repo.packagePath(v1)))).toBe(1);
    // Hash-named repodata is immutable: never asked for again (repomd.xml may be revalidated).
    expect(repodataRequests().length).toBe(metadataFetches);

    // The same makecache straight from the upstream, for scale (dnf itself takes most of it).
    const directDnf = await DnfClient.create(
      'cachetest-direct',
      `${upstream.url}/${DIRECT_PREFIX}`,
    );
    const direct: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      await directDnf.resetCache();
      direct.push((await directDnf.makecache()).ms);
    }
    console.log(
      `dnf makecache with an empty dnf cache, through a warm cache: median ${median(warm)} ms ` +
        `(${warm.map((ms) => ms.toFixed(0)).join(', ')}); straight from the upstream: median ` +
        `${median(direct)} ms (${direct.map((ms) => ms.toFixed(0)).join(', ')}); ` +
        `dnf cache warm too: ${warmBoth.ms.toFixed(0)} ms; dnf download (warm): ` +
        `${download.ms.toFixed(0)} ms`,
    );
  });

  it('a new version published upstream is seen once repomd.xml expires', async () => {
    const oldRepomd = await readFile(join(repo.dir, 'repodata', 'repomd.xml'), 'utf8');
    const v2 = await buildRpm({ name: PKG, version: '1.1+b2' });
    await repo.add(v2);
    repo.publish(upstream, PREFIX);
    const newRepomd = await readFile(join(repo.dir, 'repodata', 'repomd.xml'), 'utf8');
    expect(newRepomd).not.toBe(oldRepomd);

    // mutable_ttl is 2 s: poll the gateway until it serves the new repomd.xml.
    await waitFor(
      async () => {
        const response = await fetch(viaCache('repodata/repomd.xml'));
        return response.status === 200 && (await response.text()) === newRepomd;
      },
      { description: 'the cache to serve the new repomd.xml', timeoutMs: 30_000, intervalMs: 250 },
    );

    const download = await dnf.download(PKG);
    expect(download.path.endsWith(v2.fileName)).toBe(true);
    expect(await sha256File(download.path)).toBe(v2.sha256);
    expect(upstream.count(upstreamPath(repo.packagePath(v2)))).toBe(1);
    // The old package stayed in the repository and was not fetched again.
    expect(upstream.count(upstreamPath(repo.packagePath(v1)))).toBe(1);
  });

  it('downloads a ~200 MiB package from a slow upstream through a cold cache', async () => {
    const big = await largeRpm('cachetest-big', '2.0', 200 * 1024 * 1024);
    const bigRepo = await RpmRepo.create();
    await bigRepo.add(big);
    // 25 MiB/s: the download takes ~8 s, so the client must get the bytes as they arrive.
    bigRepo.publish(upstream, BIG_PREFIX, (rel, file) =>
      rel.endsWith('.rpm') ? { ...file, rate: 25 * 1024 * 1024 } : file,
    );
    // A cache that sent nothing until the whole file was stored would leave dnf without a byte
    // for ~8 s. dnf's own stall limit (30 s) would not notice at this size, so this client gives
    // up after 5 s without data, as containerd does after 30 s on a 1 GiB layer (docs/CACHING.md).
    const bigDnf = await DnfClient.create(
      'cachetest-big',
      `${stack.url()}/api/v1/remote/${BIG_REMOTE}`,
      { stallSeconds: 5 },
    );
    await bigDnf.makecache();

    const download = await bigDnf.download('cachetest-big', 240_000);

    const sha256 = await sha256File(download.path);
    // 200 MiB less in the run's temp dir for the specs still running.
    await rm(download.path);
    expect(sha256).toBe(big.sha256);
    expect(upstream.count(`${BIG_PREFIX}/${bigRepo.packagePath(big)}`)).toBe(1);
    console.log(
      `dnf download of ${(big.size / 1024 / 1024).toFixed(0)} MiB from a 25 MiB/s upstream, ` +
        `cold cache: ${(download.ms / 1000).toFixed(1)} s`,
    );
  }, 300_000);
});

function median(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)].toFixed(0);
}
