import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AptClient,
  AptRepo,
  APT_ARCH,
  APT_SUITE,
  buildDeb,
  type BuiltDeb,
} from '../helpers/apt-repo';
import { sha256File } from '../helpers/rpm-repo';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';

/**
 * apt-get against the gateway: an unsigned `dists/` repository (apt-ftparchive) on a loopback
 * upstream, apt with private state (see AptClient). docs/CONFIGURATION.md (debian defaults: pool/ immutable,
 * Release/Packages mutable) and §5 (negative cache: apt asks for InRelease first and falls back
 * to Release on a 404, on every update).
 */
describe('apt through the cache (debian remote)', () => {
  const upstream = new UpstreamServer();
  const PREFIX = 'debian';
  const REMOTE = 'apt-debian';
  const PKG = 'cachetest-hello';
  let stack: Stack;
  let repo: AptRepo;
  let apt: AptClient;
  let v1: BuiltDeb;

  const upstreamPath = (rel: string) => `${PREFIX}/${rel}`;
  const viaCache = (rel: string) => `${stack.url()}/api/v1/remote/${REMOTE}/${rel}`;
  const sourcesLine = () =>
    `deb [trusted=yes] ${stack.url()}/api/v1/remote/${REMOTE} ${APT_SUITE} main`;

  beforeAll(async () => {
    await upstream.start();
    // `~` and `+` are common in Debian versions; apt sends them percent-encoded (%7e, %2b).
    v1 = await buildDeb({ name: PKG, version: '1.0~rc1+b1-1' });
    repo = await AptRepo.create();
    await repo.add(v1);
    repo.publish(upstream, PREFIX);
    stack = await Stack.start({
      remotes: {
        [REMOTE]: {
          package: 'debian',
          base_url: `${upstream.url}/${PREFIX}`,
          mutable_ttl: 2,
          negative_ttl: 60,
        },
      },
    });
    apt = await AptClient.create(sourcesLine());
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('a cold update and download go through the cache and give the exact package', async () => {
    const update = await apt.update();
    const download = await apt.download(PKG);

    expect(update.stdout).toMatch(/Ign:\d+ \S+ stable InRelease/);
    expect(update.stdout).toMatch(/Get:\d+ \S+ stable Release/);
    expect(download.path.endsWith(v1.fileName)).toBe(true);
    expect(await sha256File(download.path)).toBe(v1.sha256);
    expect(upstream.count(upstreamPath(repo.poolPath(v1)))).toBe(1);
    expect(upstream.count(upstreamPath(`dists/${APT_SUITE}/InRelease`))).toBe(1);
  });

  it('a second update and download (fresh apt state) are served from the cache', async () => {
    const fresh = await AptClient.create(sourcesLine());
    await fresh.update();
    const download = await fresh.download(PKG);

    expect(await sha256File(download.path)).toBe(v1.sha256);
    expect(upstream.count(upstreamPath(repo.poolPath(v1)))).toBe(1);
    // The InRelease 404 is negative-cached (negative_ttl 60 s): apt's fallback costs the
    // upstream nothing the second time.
    expect(upstream.count(upstreamPath(`dists/${APT_SUITE}/InRelease`))).toBe(1);
    expect(upstream.count(upstreamPath(`dists/${APT_SUITE}/Release.gpg`))).toBe(1);
    const inRelease = await fetch(viaCache(`dists/${APT_SUITE}/InRelease`));
    expect(inRelease.status).toBe(404);
    await inRelease.arrayBuffer();
  });

  it('a new version published upstream is seen once the indexes expire', async () => {
    const oldRelease = await readFile(join(repo.dir, 'dists', APT_SUITE, 'Release'), 'utf8');
    // An epoch kept in the pool file name: apt asks for `..._2%3a1.1+b2-1_all.deb`.
    const v2 = await buildDeb({ name: PKG, version: '2:1.1+b2-1', epochInFileName: true });
    await repo.add(v2);
    repo.publish(upstream, PREFIX);
    const newRelease = await readFile(join(repo.dir, 'dists', APT_SUITE, 'Release'), 'utf8');
    expect(newRelease).not.toBe(oldRelease);

    // mutable_ttl is 2 s: poll the gateway until it serves the new Release and Packages.gz.
    // Both, because each has its own TTL: a new Release with an old Packages.gz in the window
    // between their expiries is a "Hash Sum mismatch" for apt (by-hash indexes avoid that).
    const packagesGz = `dists/${APT_SUITE}/main/binary-${APT_ARCH}/Packages.gz`;
    const newPackagesGz = await readFile(join(repo.dir, packagesGz));
    await waitFor(
      async () => {
        const release = await fetch(viaCache(`dists/${APT_SUITE}/Release`));
        const packages = await fetch(viaCache(packagesGz));
        return (
          release.status === 200 &&
          (await release.text()) === newRelease &&
          packages.status === 200 &&
          Buffer.from(await packages.arrayBuffer()).equals(newPackagesGz)
        );
      },
      {
        description: 'the cache to serve the new Release and Packages.gz',
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );

    // The first client again: its lists are from v1, so apt sends If-Modified-Since.
    await apt.update();
    const download = await apt.download(PKG);

    expect(await sha256File(download.path)).toBe(v2.sha256);
    // apt-get download names the file after the candidate version, epoch as %3a.
    expect(download.path.endsWith(`${PKG}_2%3a1.1+b2-1_all.deb`)).toBe(true);
    expect(upstream.count(upstreamPath(repo.poolPath(v2)))).toBe(1);
    expect(upstream.count(upstreamPath(repo.poolPath(v1)))).toBe(1);
  });
});
