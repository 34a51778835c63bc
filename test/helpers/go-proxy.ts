import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type CommandResult, runCommand } from '../../tools/processes';
import { createHash } from 'node:crypto';
import { hash1 } from '@app/formats';
import type { UpstreamServer } from './upstream-server';

export interface GoModule {
  /** as written in go.mod (`example.org/Greet`) */
  path: string;
  version: string;
  /** the package's one function, `Value()`, returns `<path> <version>` */
  value: string;
  files: Record<string, Buffer>;
  /** its go.sum lines, as a checksum database records them */
  sums: string;
}

/** go's h1 of `files` (name → contents); go checks it against the zips the tests build. */
function hash1Of(files: Record<string, string>): string {
  const digests = Object.entries(files).map(
    ([name, text]) => [name, createHash('sha256').update(text).digest('hex')] as const,
  );
  return hash1(new Map(digests));
}

/** GOPROXY's case-encoding: `!` before each capital, lower-cased. */
export function encodeModulePath(path: string): string {
  return path.replace(/[A-Z]/g, (letter) => `!${letter.toLowerCase()}`);
}

// A module zip (golang.org/x/mod/zip): every file under `<module>@<version>/`.
const ZIP_MODULE = String.raw`
import sys, zipfile
out, prefix, *files = sys.argv[1:]
with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as archive:
    for i in range(0, len(files), 2):
        archive.writestr(prefix + '/' + files[i], files[i + 1])
`;

/** A module with one package whose `Value()` says which module and version it is (or `value`). */
export async function buildModule(
  dir: string,
  path: string,
  version: string,
  value = `${path} ${version}`,
): Promise<GoModule> {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const mod = `module ${path}\n\ngo 1.19\n`;
  const source = `package ${name}\n\nfunc Value() string { return "${value}" }\n`;
  const zip = join(dir, 'modules', `${encodeModulePath(path)}@${version}.zip`);
  await mkdir(dirname(zip), { recursive: true });
  await runCommand('python3', [
    '-c',
    ZIP_MODULE,
    zip,
    `${path}@${version}`,
    'go.mod',
    mod,
    `${name}.go`,
    source,
  ]);
  const info = JSON.stringify({ Version: version, Time: '2026-01-01T00:00:00Z' });
  const zipped = { [`${path}@${version}/go.mod`]: mod, [`${path}@${version}/${name}.go`]: source };
  const sums =
    `${path} ${version} ${hash1Of(zipped)}\n` +
    `${path} ${version}/go.mod ${hash1Of({ 'go.mod': mod })}\n`;
  return {
    path,
    version,
    value,
    sums,
    files: {
      list: Buffer.from(`${version}\n`),
      latest: Buffer.from(info),
      info: Buffer.from(info),
      mod: Buffer.from(mod),
      zip: await readFile(zip),
    },
  };
}

/** The upstream paths of a module's files under `prefix`, by what they are. */
export function moduleFiles(prefix: string, module: GoModule): Record<string, string> {
  const base = `${prefix}/${encodeModulePath(module.path)}`;
  return {
    list: `${base}/@v/list`,
    latest: `${base}/@latest`,
    info: `${base}/@v/${module.version}.info`,
    mod: `${base}/@v/${module.version}.mod`,
    zip: `${base}/@v/${module.version}.zip`,
  };
}

/** Serves modules as a GOPROXY under `prefix`; `zip` replaces a module's zip (corrupted upstream). */
export function publishModules(
  server: UpstreamServer,
  prefix: string,
  modules: Array<{ module: GoModule; zip?: Buffer }>,
): void {
  for (const { module, zip } of modules) {
    for (const [what, path] of Object.entries(moduleFiles(prefix, module))) {
      const body = what === 'zip' && zip ? zip : module.files[what];
      server.set(path, { body, contentType: what === 'zip' ? 'application/zip' : 'text/plain' });
    }
  }
}

/** A main module requiring `modules` whose main prints each one's Value(); `goSum` as go.sum. */
export async function goConsumer(root: string, modules: GoModule[], goSum = ''): Promise<string> {
  await mkdir(root, { recursive: true });
  const requires = modules.map((module) => `\t${module.path} ${module.version}`).join('\n');
  await writeFile(join(root, 'go.mod'), `module app\n\ngo 1.19\n\nrequire (\n${requires}\n)\n`);
  await writeFile(join(root, 'go.sum'), goSum);
  const imports = modules.map((module) => `\t"${module.path}"`).join('\n');
  const calls = modules.map((module) => {
    const name = module.path.slice(module.path.lastIndexOf('/') + 1).toLowerCase();
    return `\tfmt.Println(${name}.Value())`;
  });
  await writeFile(
    join(root, 'main.go'),
    `package main\n\nimport (\n\t"fmt"\n${imports}\n)\n\nfunc main() {\n${calls.join('\n')}\n}\n`,
  );
  return root;
}

/**
 * go with a module cache and GOPATH of its own under `root` (so every module and checksum
 * comes from `proxy`), the compiled standard library shared in `buildCache`, and `sumdb` as
 * GOSUMDB (a verifier key, or `off`).
 */
export function go(
  args: string[],
  root: string,
  options: { proxy: string; buildCache: string; sumdb: string },
): Promise<CommandResult> {
  return runCommand('go', args, {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: root,
      GOPATH: join(root, '.gopath'),
      GOMODCACHE: join(root, '.gopath', 'mod'),
      GOCACHE: options.buildCache,
      GOPROXY: options.proxy,
      GOSUMDB: options.sumdb,
      GOFLAGS: '-mod=mod',
      GONOSUMDB: '',
      GOPRIVATE: '',
      CGO_ENABLED: '0',
    },
    timeoutMs: 180_000,
  });
}
