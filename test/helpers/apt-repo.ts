/**
 * Debian fixtures and a private apt for e2e specs: packages built with `dpkg-deb --build` from a
 * minimal DEBIAN/control, a `dists/` repository indexed with `apt-ftparchive` (unsigned: no
 * InRelease, no Release.gpg, so apt's fallback from InRelease to Release is exercised), served
 * from disk by an UpstreamServer, and an apt-get whose configuration, lists and caches all live
 * under the run's temp dir.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { placeFile, sha256File } from './rpm-repo';
import { runCommand, type CommandResult } from '../../tools/processes';
import type { UpstreamFile, UpstreamServer } from './upstream-server';
import { scratchDir } from './isolated-services';

export interface DebPackageSpec {
  name: string;
  /** Debian version; may use `~`, `+` and an epoch (`2:1.0~rc1+b1-1`) */
  version: string;
  /** small files the package installs, by absolute path */
  files?: Record<string, string>;
  /**
   * keep the epoch in the pool file name (`name_2:1.0-1_all.deb`): Debian's own tools drop it,
   * but third-party repositories do ship such names, and apt asks for them as `%3a`
   */
  epochInFileName?: boolean;
}

export interface BuiltDeb {
  name: string;
  version: string;
  /** `<name>_<version>_all.deb` (without the epoch unless asked for), the pool file name */
  fileName: string;
  path: string;
  size: number;
  sha256: string;
}

export const APT_SUITE = 'stable';
const APT_COMPONENT = 'main';
/** Fixed, so the tests mean the same on any host architecture (packages are `Architecture: all`). */
export const APT_ARCH = 'amd64';

/** Builds one `Architecture: all` package with `dpkg-deb --build` under TEST_TMP_DIR. */
export async function buildDeb(pkg: DebPackageSpec): Promise<BuiltDeb> {
  const top = await scratchDir('debbuild');
  const root = join(top, 'root');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN', 'control'),
    [
      `Package: ${pkg.name}`,
      `Version: ${pkg.version}`,
      'Architecture: all',
      'Maintainer: Artifact Cache Tests <tests@example.invalid>',
      'Section: misc',
      'Priority: optional',
      `Description: ${pkg.name} test fixture`,
      ` Fixture package ${pkg.name} ${pkg.version} for the artifact cache e2e tests.`,
      '',
    ].join('\n'),
  );
  const files = pkg.files ?? { [`/usr/share/${pkg.name}/VERSION`]: `${pkg.version}\n` };
  for (const [path, content] of Object.entries(files)) {
    const target = join(root, path);
    await mkdir(join(target, '..'), { recursive: true });
    await writeFile(target, content);
  }
  const fileVersion = pkg.epochInFileName ? pkg.version : pkg.version.replace(/^\d+:/, '');
  const fileName = `${pkg.name}_${fileVersion}_all.deb`;
  const path = join(top, fileName);
  await runCommand('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, path]);
  return {
    name: pkg.name,
    version: pkg.version,
    fileName,
    path,
    size: (await stat(path)).size,
    sha256: await sha256File(path),
  };
}

/**
 * A Debian repository: `pool/main/<letter>/<name>/<file>.deb`,
 * `dists/stable/main/binary-amd64/Packages(.gz)` and `dists/stable/Release`, unsigned.
 */
export class AptRepo {
  private constructor(readonly dir: string) {}

  static async create(): Promise<AptRepo> {
    const dir = join(await scratchDir('apt-repos'), 'repo');
    await mkdir(join(dir, 'pool'), { recursive: true });
    return new AptRepo(dir);
  }

  /** Pool path of a package, relative to the repository root. */
  poolPath(deb: BuiltDeb): string {
    const letter = deb.name.startsWith('lib') ? deb.name.slice(0, 4) : deb.name[0];
    return `pool/${APT_COMPONENT}/${letter}/${deb.name}/${deb.fileName}`;
  }

  /** Copies packages into the pool and regenerates Packages, Packages.gz and Release. */
  async add(...debs: BuiltDeb[]): Promise<void> {
    for (const deb of debs) {
      const target = join(this.dir, this.poolPath(deb));
      await mkdir(join(target, '..'), { recursive: true });
      await placeFile(deb.path, target);
    }
    const dist = join(this.dir, 'dists', APT_SUITE);
    const binary = join(dist, APT_COMPONENT, `binary-${APT_ARCH}`);
    await mkdir(binary, { recursive: true });
    // Paths in Packages (`Filename:`) are relative to the repository root, so run from there.
    const packages = await runCommand('apt-ftparchive', ['packages', 'pool'], { cwd: this.dir });
    await writeFile(join(binary, 'Packages'), packages.stdout);
    await rm(join(binary, 'Packages.gz'), { force: true });
    await runCommand('gzip', ['-9nk', join(binary, 'Packages')]);
    // apt-ftparchive release hashes every file under the directory, so no Release may be there.
    await rm(join(dist, 'Release'), { force: true });
    const release = await runCommand(
      'apt-ftparchive',
      [
        '-o',
        `APT::FTPArchive::Release::Origin=artifact-cache-tests`,
        '-o',
        `APT::FTPArchive::Release::Suite=${APT_SUITE}`,
        '-o',
        `APT::FTPArchive::Release::Codename=${APT_SUITE}`,
        '-o',
        `APT::FTPArchive::Release::Architectures=${APT_ARCH}`,
        '-o',
        `APT::FTPArchive::Release::Components=${APT_COMPONENT}`,
        'release',
        '.',
      ],
      { cwd: dist },
    );
    await writeFile(join(dist, 'Release'), release.stdout);
  }

  /** Serves the repository as it is now under `prefix`; call again after `add`. */
  publish(
    upstream: UpstreamServer,
    prefix: string,
    decorate?: (relPath: string, file: UpstreamFile) => UpstreamFile,
  ): string[] {
    return upstream.serveDirectory(prefix, this.dir, decorate);
  }
}

/**
 * apt-get with private state. APT_CONFIG names a config file that points every Dir:: setting
 * into our directory, including Dir::Etc::Parts and Dir::Etc::main: apt reads APT_CONFIG before
 * those, so the machine's apt.conf.d (hooks such as docker-clean or packagekit's) never runs and
 * the machine's lists, caches, sources and lock are never touched.
 */
export class AptClient {
  private constructor(readonly dir: string) {}

  static async create(sourcesLine: string): Promise<AptClient> {
    const dir = await scratchDir('apt');
    for (const sub of [
      'parts',
      'sources.list.d',
      'preferences.d',
      'trusted.gpg.d',
      'state/lists/partial',
      'cache/archives/partial',
      'log',
    ]) {
      await mkdir(join(dir, sub), { recursive: true });
    }
    await writeFile(join(dir, 'status'), '');
    await writeFile(join(dir, 'sources.list'), `${sourcesLine}\n`);
    const q = (value: string) => JSON.stringify(value);
    await writeFile(
      join(dir, 'apt.conf'),
      [
        `Dir::Etc::Parts ${q(join(dir, 'parts'))};`,
        `Dir::Etc::main ${q(join(dir, 'no-main-apt.conf'))};`,
        `Dir::Etc::SourceList ${q(join(dir, 'sources.list'))};`,
        `Dir::Etc::SourceParts ${q(join(dir, 'sources.list.d'))};`,
        `Dir::Etc::Preferences ${q(join(dir, 'preferences'))};`,
        `Dir::Etc::PreferencesParts ${q(join(dir, 'preferences.d'))};`,
        `Dir::Etc::Trusted ${q(join(dir, 'trusted.gpg'))};`,
        `Dir::Etc::TrustedParts ${q(join(dir, 'trusted.gpg.d'))};`,
        `Dir::State ${q(join(dir, 'state'))};`,
        `Dir::State::status ${q(join(dir, 'status'))};`,
        `Dir::Cache ${q(join(dir, 'cache'))};`,
        `Dir::Log ${q(join(dir, 'log'))};`,
        'Debug::NoLocking "true";',
        `APT::Architecture ${q(APT_ARCH)};`,
        `APT::Architectures { ${q(APT_ARCH)}; };`,
        // As root apt downloads as `_apt`, which cannot write into the root-owned temp dir.
        'APT::Sandbox::User "root";',
        'Acquire::Languages "none";',
        'Acquire::Retries "0";',
        'Acquire::http::Proxy "DIRECT";',
        '',
      ].join('\n'),
    );
    return new AptClient(dir);
  }

  private run(args: string[], cwd: string): Promise<CommandResult> {
    return runCommand('apt-get', ['-q', ...args], {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: this.dir,
        LC_ALL: 'C',
        APT_CONFIG: join(this.dir, 'apt.conf'),
      },
      timeoutMs: 120_000,
    });
  }

  /**
   * `apt-get update`. apt exits 0 even when an index could not be fetched (it warns and keeps the
   * old one), so any `W:`/`E:` line or `Err:` line counts as a failure here.
   */
  async update(): Promise<CommandResult> {
    const result = await this.run(['update'], this.dir);
    const output = `${result.stdout}\n${result.stderr}`;
    if (/^(W|E|Err):/m.test(output)) {
      throw new Error(`apt-get update reported problems:\n${output}`);
    }
    return result;
  }

  /** `apt-get download <pkg>` in a new empty directory; returns the downloaded file's path. */
  async download(pkg: string): Promise<{ path: string } & CommandResult> {
    const dest = await mkdtemp(join(this.dir, 'download-'));
    const result = await this.run(['download', pkg], dest);
    const files = (await readdir(dest)).filter((f) => f.endsWith('.deb'));
    if (files.length !== 1) {
      throw new Error(
        `apt-get download ${pkg} left ${files.length} .deb files in ${dest} (${files.join(', ')})` +
          `\n${result.stdout}\n${result.stderr}`,
      );
    }
    return { ...result, path: join(dest, files[0]) };
  }

  /** apt's own record of the candidate version (`apt-cache policy`) for error messages. */
  async policy(pkg: string): Promise<string> {
    const result = await runCommand('apt-cache', ['policy', pkg], {
      env: { PATH: process.env.PATH, LC_ALL: 'C', APT_CONFIG: join(this.dir, 'apt.conf') },
    });
    return result.stdout;
  }
}
