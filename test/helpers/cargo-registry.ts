import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CommandResult, runCommand } from '../../tools/processes';
import type { UpstreamServer } from './upstream-server';

export interface BuiltCrate {
  name: string;
  version: string;
  bytes: Buffer;
  sha256: string;
  /** what its `value()` returns */
  value: string;
}

/** A library crate whose `value()` returns `<name> <version>`, packaged by cargo itself. */
export async function buildCrate(dir: string, name: string, version: string): Promise<BuiltCrate> {
  const root = join(dir, 'crates', `${name}-${version}`);
  await mkdir(join(root, 'src'), { recursive: true });
  const value = `${name} ${version}`;
  await writeFile(
    join(root, 'Cargo.toml'),
    `[package]\nname = "${name}"\nversion = "${version}"\nedition = "2021"\ndescription = "test crate"\nlicense = "MIT"\n`,
  );
  await writeFile(join(root, 'src', 'lib.rs'), `pub fn value() -> &'static str { "${value}" }\n`);
  await cargo(
    ['package', '--no-verify', '--allow-dirty', '--offline', '--quiet'],
    root,
    join(dir, 'cargo-home'),
  );
  const bytes = await readFile(join(root, 'target', 'package', `${name}-${version}.crate`));
  return { name, version, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), value };
}

/** Where the sparse index puts a crate's file (names in lower case). */
export function indexPath(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length <= 2) {
    return `${lower.length}/${lower}`;
  }
  if (lower.length === 3) {
    return `3/${lower[0]}/${lower}`;
  }
  return `${lower.slice(0, 2)}/${lower.slice(2, 4)}/${lower}`;
}

/**
 * A sparse registry on `index` under `prefix`/index: its config.json, whose `dl` (no markers:
 * cargo appends `/{crate}/{version}/download`) points at `files` under `crates/`, and one index
 * file per crate. `served` replaces a crate's bytes on the files host (a corrupted upstream).
 * Returns each crate's path on the files host.
 */
export function publishRegistry(
  index: UpstreamServer,
  prefix: string,
  files: UpstreamServer,
  crates: Array<{ crate: BuiltCrate; served?: Buffer }>,
): Map<string, string> {
  index.set(`${prefix}/index/config.json`, {
    contentType: 'application/json',
    body: JSON.stringify({ dl: `${files.url}/crates`, api: `${index.url}/${prefix}/api` }),
  });
  const paths = new Map<string, string>();
  for (const { crate, served } of crates) {
    const entry = {
      name: crate.name,
      vers: crate.version,
      deps: [],
      cksum: crate.sha256,
      features: {},
      yanked: false,
    };
    index.set(`${prefix}/index/${indexPath(crate.name)}`, { body: `${JSON.stringify(entry)}\n` });
    const path = `crates/${crate.name}/${crate.version}/download`;
    files.set(path, { body: served ?? crate.bytes, contentType: 'application/x-tar' });
    paths.set(crate.name, path);
  }
  return paths;
}

/** A binary crate `app` depending on `crates`, whose main prints each one's value(). */
export async function consumer(
  dir: string,
  registryUrl: string,
  crates: BuiltCrate[],
): Promise<string> {
  const root = join(dir, 'app');
  await mkdir(join(root, 'src'), { recursive: true });
  await mkdir(join(root, '.cargo'), { recursive: true });
  const dependencies = crates.map((crate) => `${crate.name} = "=${crate.version}"`).join('\n');
  await writeFile(
    join(root, 'Cargo.toml'),
    `[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n${dependencies}\n`,
  );
  const calls = crates.map(
    (crate) => `    println!("{}", ${crate.name.replace(/-/g, '_')}::value());`,
  );
  await writeFile(join(root, 'src', 'main.rs'), `fn main() {\n${calls.join('\n')}\n}\n`);
  await writeFile(
    join(root, '.cargo', 'config.toml'),
    [
      '[source.crates-io]',
      'replace-with = "cache"',
      '[source.cache]',
      `registry = "sparse+${registryUrl}"`,
      '[net]',
      'retry = 0',
      '',
    ].join('\n'),
  );
  return root;
}

/** cargo with its own CARGO_HOME (no index or crates cached from an earlier run). */
export function cargo(args: string[], cwd: string, cargoHome: string): Promise<CommandResult> {
  return runCommand('cargo', args, {
    cwd,
    env: {
      // rustup installs cargo there, which a login shell puts on the PATH and CI may not
      PATH: `${join(process.env.HOME ?? '/root', '.cargo', 'bin')}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME,
      CARGO_HOME: cargoHome,
      RUSTUP_HOME: process.env.RUSTUP_HOME ?? join(process.env.HOME ?? '/root', '.rustup'),
      CARGO_TERM_COLOR: 'never',
      CARGO_HTTP_TIMEOUT: '30',
    },
    timeoutMs: 180_000,
  });
}
