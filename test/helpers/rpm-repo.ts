/**
 * RPM fixtures and a private dnf for e2e specs: packages built with `rpmbuild -bb` from a minimal
 * noarch spec, repositories made with `createrepo_c`, served from disk by an UpstreamServer, and a
 * dnf whose configuration, cache, logs and rpmdb all live under the run's temp dir.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readdir,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { runCommand, type CommandResult } from '../../tools/processes';
import type { UpstreamFile, UpstreamServer } from './upstream-server';
import { requireEnv, scratchDir } from './isolated-services';

export interface RpmPackageSpec {
  name: string;
  /** may use `~` and `+`, as real versions do (`1.0~rc1+git3`) */
  version: string;
  release?: string;
  /** small files the package installs, by absolute path (`/usr/share/x/README`) */
  files?: Record<string, string>;
  /**
   * bytes of random payload in `/usr/share/<name>/payload.bin`; with it the RPM's payload is
   * stored uncompressed (`w0.ufdio`) so a ~200 MiB package builds in about two seconds
   */
  payloadBytes?: number;
}

export interface BuiltRpm {
  name: string;
  version: string;
  release: string;
  /** `<name>-<version>-<release>.noarch.rpm` */
  fileName: string;
  /** where the built package is */
  path: string;
  size: number;
  sha256: string;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

function specFile(pkg: RpmPackageSpec, payloadDir: string): string {
  const release = pkg.release ?? '1';
  const ownDir = `/usr/share/${pkg.name}`;
  const install = [
    'mkdir -p %{buildroot}',
    `cp -a ${payloadDir}/. %{buildroot}/`,
    ...(pkg.payloadBytes
      ? [
          `mkdir -p %{buildroot}${ownDir}`,
          `head -c ${pkg.payloadBytes} /dev/urandom > %{buildroot}${ownDir}/payload.bin`,
        ]
      : []),
  ];
  const files = [
    ...Object.keys(pkg.files ?? {}),
    ...(pkg.payloadBytes ? [`${ownDir}/payload.bin`] : []),
  ];
  return [
    `Name: ${pkg.name}`,
    `Version: ${pkg.version}`,
    `Release: ${release}`,
    `Summary: ${pkg.name} test fixture`,
    'License: MIT',
    'BuildArch: noarch',
    // No debuginfo subpackage, no build-id links, no brp-* post-processing (strip, compress,
    // bytecompile): nothing to do for a noarch fixture and slow on a 200 MiB payload.
    '%define debug_package %{nil}',
    '%define _build_id_links none',
    '%define __os_install_post %{nil}',
    ...(pkg.payloadBytes ? ['%define _binary_payload w0.ufdio'] : []),
    '',
    '%description',
    `Fixture package ${pkg.name} ${pkg.version}-${release} for the artifact cache e2e tests.`,
    '',
    '%install',
    ...install,
    '',
    '%files',
    ...files,
    '',
  ].join('\n');
}

/** Builds one noarch RPM with `rpmbuild -bb` in a fresh directory under TEST_TMP_DIR. */
export async function buildRpm(pkg: RpmPackageSpec): Promise<BuiltRpm> {
  if (!pkg.files && !pkg.payloadBytes) {
    pkg = { ...pkg, files: { [`/usr/share/${pkg.name}/VERSION`]: `${pkg.version}\n` } };
  }
  const release = pkg.release ?? '1';
  const top = await scratchDir('rpmbuild');
  const payloadDir = join(top, 'payload');
  await mkdir(payloadDir, { recursive: true });
  for (const [path, content] of Object.entries(pkg.files ?? {})) {
    const target = join(payloadDir, path);
    await mkdir(join(target, '..'), { recursive: true });
    await writeFile(target, content);
  }
  const spec = join(top, `${pkg.name}.spec`);
  await writeFile(spec, specFile(pkg, payloadDir));
  await runCommand(
    'rpmbuild',
    [
      '-bb',
      '--quiet',
      '--define',
      `_topdir ${top}`,
      '--define',
      `_tmppath ${join(top, 'tmp')}`,
      // Flat output: RPMS/<file>, not RPMS/noarch/<file>.
      '--define',
      '_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
      spec,
    ],
    { timeoutMs: 300_000 },
  );
  const fileName = `${pkg.name}-${pkg.version}-${release}.noarch.rpm`;
  const path = join(top, 'RPMS', fileName);
  if (!existsSync(path)) {
    const found = await readdir(join(top, 'RPMS')).catch(() => []);
    throw new Error(`rpmbuild did not write ${fileName} (RPMS holds: ${found.join(', ')})`);
  }
  return {
    name: pkg.name,
    version: pkg.version,
    release,
    fileName,
    path,
    size: (await stat(path)).size,
    sha256: await sha256File(path),
  };
}

/**
 * A large package (`payloadBytes` of random data, uncompressed payload), built once per test run:
 * later calls in the same run, from any spec or worker, reuse the copy kept in TEST_TMP_DIR.
 * Nothing is cached outside the run's temp dir.
 */
export async function largeRpm(name: string, version: string, payloadBytes: number) {
  const cacheDir = join(requireEnv('TEST_TMP_DIR'), 'rpm-cache');
  const cached = join(cacheDir, `${name}-${version}-${payloadBytes}.rpm`);
  const fileName = `${name}-${version}-1.noarch.rpm`;
  if (!existsSync(cached)) {
    const built = await buildRpm({ name, version, payloadBytes });
    await mkdir(cacheDir, { recursive: true });
    // Same filesystem, so the rename is atomic: a concurrent worker sees all of it or nothing.
    await rename(built.path, cached);
    await rm(join(built.path, '..', '..'), { recursive: true, force: true });
  }
  const result: BuiltRpm = {
    name,
    version,
    release: '1',
    fileName,
    path: cached,
    size: (await stat(cached)).size,
    sha256: await sha256File(cached),
  };
  return result;
}

/** Hard-links (a 200 MiB fixture is not copied per repository), or copies across filesystems. */
export async function placeFile(source: string, target: string): Promise<void> {
  await rm(target, { force: true });
  try {
    await link(source, target);
  } catch {
    await copyFile(source, target);
  }
}

/** A yum/dnf repository directory: packages under `Packages/`, metadata by `createrepo_c`. */
export class RpmRepo {
  private indexed = false;

  private constructor(readonly dir: string) {}

  static async create(): Promise<RpmRepo> {
    const dir = join(await scratchDir('rpm-repos'), 'repo');
    await mkdir(join(dir, 'Packages'), { recursive: true });
    return new RpmRepo(dir);
  }

  /** Copies packages in and (re)indexes: `createrepo_c` the first time, `--update` after. */
  async add(...rpms: BuiltRpm[]): Promise<void> {
    for (const rpm of rpms) {
      await placeFile(rpm.path, join(this.dir, 'Packages', rpm.fileName));
    }
    const args = this.indexed ? ['--update', this.dir] : [this.dir];
    await runCommand('createrepo_c', ['--quiet', '--no-database', ...args], {
      timeoutMs: 120_000,
    });
    this.indexed = true;
  }

  /** Repository-relative path of a package (what dnf asks the cache for). */
  packagePath(rpm: BuiltRpm): string {
    return `Packages/${rpm.fileName}`;
  }

  /**
   * Serves the repository as it is now under `prefix` (files read from disk per request, with
   * mtime validators). Call again after `add` to publish the new metadata.
   */
  publish(
    upstream: UpstreamServer,
    prefix: string,
    decorate?: (relPath: string, file: UpstreamFile) => UpstreamFile,
  ): string[] {
    return upstream.serveDirectory(prefix, this.dir, decorate);
  }
}

/**
 * dnf with private state: its own dnf.conf and repos dir, and an `--installroot` that holds the
 * cache, logs, persistdir and rpmdb, so nothing on the machine changes. Only the `download`
 * plugin is loaded: others write outside the installroot (generate_completion_cache writes
 * /var/cache/dnf/packages.db whatever the installroot).
 */
export class DnfClient {
  private generation = 0;

  private constructor(
    readonly dir: string,
    readonly repoId: string,
  ) {}

  /**
   * `stallSeconds`: dnf (libcurl) gives up on a transfer that moves under 1 KiB/s for this long,
   * waiting for the response headers included. Default: dnf's own (`timeout=30`, `minrate=1000`).
   */
  static async create(
    repoId: string,
    baseUrl: string,
    options: { stallSeconds?: number } = {},
  ): Promise<DnfClient> {
    const dir = await scratchDir('dnf');
    const client = new DnfClient(dir, repoId);
    await mkdir(join(dir, 'repos.d'), { recursive: true });
    await writeFile(
      join(dir, 'dnf.conf'),
      [
        '[main]',
        'gpgcheck=0',
        'repo_gpgcheck=0',
        // Every command re-reads repomd.xml (`--refresh` too): a CI job sees upstream changes.
        'metadata_expire=0',
        'keepcache=0',
        'install_weak_deps=0',
        'skip_if_unavailable=0',
        // One attempt: a failure of the cache must show, not be retried away.
        'retries=1',
        ...(options.stallSeconds ? [`timeout=${options.stallSeconds}`, 'minrate=1024'] : []),
        '',
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'repos.d', `${repoId}.repo`),
      [
        `[${repoId}]`,
        `name=${repoId} through the artifact cache`,
        `baseurl=${baseUrl}`,
        'enabled=1',
        'gpgcheck=0',
        'repo_gpgcheck=0',
        'metadata_expire=0',
        '',
      ].join('\n'),
    );
    await client.resetCache();
    return client;
  }

  private get installRoot(): string {
    return join(this.dir, `root-${this.generation}`);
  }

  /** Starts over with an empty dnf cache (a fresh CI runner). */
  async resetCache(): Promise<void> {
    await rm(this.installRoot, { recursive: true, force: true });
    this.generation += 1;
    await mkdir(this.installRoot, { recursive: true });
  }

  private run(args: string[], timeoutMs: number): Promise<CommandResult> {
    return runCommand(
      'dnf',
      [
        '-c',
        join(this.dir, 'dnf.conf'),
        '--installroot',
        this.installRoot,
        `--setopt=reposdir=${join(this.dir, 'repos.d')}`,
        '--releasever',
        '1',
        '--disableplugin=*',
        '--enableplugin=download',
        '--disablerepo=*',
        `--enablerepo=${this.repoId}`,
        '--refresh',
        '-y',
        ...args,
      ],
      { cwd: this.dir, timeoutMs },
    );
  }

  makecache(): Promise<CommandResult> {
    return this.run(['makecache'], 120_000);
  }

  /** `dnf download <spec>` into a new empty directory; returns the downloaded file's path. */
  async download(pkg: string, timeoutMs = 120_000): Promise<{ path: string } & CommandResult> {
    const dest = await mkdtemp(join(this.dir, 'download-'));
    const result = await this.run(['download', '--destdir', dest, pkg], timeoutMs);
    const files = (await readdir(dest)).filter((f) => f.endsWith('.rpm'));
    if (files.length !== 1) {
      throw new Error(
        `dnf download ${pkg} left ${files.length} rpm files in ${dest} (${files.join(', ')})\n` +
          `${result.stdout}\n${result.stderr}`,
      );
    }
    return { ...result, path: join(dest, files[0]) };
  }
}
