import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../tools/processes';
import type { UpstreamServer } from './upstream-server';

export interface BuiltWheel {
  /** the distribution's name as written (`demo-pkg`) */
  project: string;
  fileName: string;
  bytes: Buffer;
  sha256: string;
  /** the module it installs, whose `VALUE` is `value` */
  module: string;
  value: string;
}

// A pure-Python wheel (PEP 427) built with the standard library: the module, METADATA, WHEEL
// and a RECORD that lists each file's urlsafe-base64 sha256, as pip checks it.
const BUILD_WHEEL = String.raw`
import base64, hashlib, sys, zipfile
out, name, version, value, *requires = sys.argv[1:]
module = name.replace('-', '_')
info = f'{module}-{version}.dist-info'
files = {
    f'{module}/__init__.py': f'VALUE = {value!r}\n',
    f'{info}/METADATA': 'Metadata-Version: 2.1\n' + f'Name: {name}\nVersion: {version}\n'
        + ''.join(f'Requires-Dist: {r}\n' for r in requires),
    f'{info}/WHEEL': 'Wheel-Version: 1.0\nGenerator: artifact-cache-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
}
record = ''
for path, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()
    record += f'{path},sha256={digest},{len(text.encode())}\n'
files[f'{info}/RECORD'] = record + f'{info}/RECORD,,\n'
wheel = f'{out}/{module}-{version}-py3-none-any.whl'
with zipfile.ZipFile(wheel, 'w', zipfile.ZIP_DEFLATED) as archive:
    for path, text in files.items():
        archive.writestr(path, text)
print(wheel)
`;

export async function buildWheel(
  dir: string,
  project: string,
  version: string,
  requires: string[] = [],
): Promise<BuiltWheel> {
  const value = `${project} ${version}`;
  const { stdout } = await runCommand('python3', [
    '-c',
    BUILD_WHEEL,
    dir,
    project,
    version,
    value,
    ...requires,
  ]);
  const path = stdout.trim();
  const bytes = await readFile(path);
  return {
    project,
    fileName: path.slice(path.lastIndexOf('/') + 1),
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    module: project.replace(/-/g, '_'),
    value,
  };
}

/** Where a project's page links its wheel to, and in which form the page is written. */
export interface PublishedProject {
  wheel: BuiltWheel;
  /** `html`: PEP 503 with relative links; `json`: PEP 691 */
  form: 'html' | 'json';
  /** the absolute base URL of the host serving the file; relative link under `packages/` if unset */
  filesHost?: UpstreamServer;
  /** the bytes the upstream serves for the file, when not the wheel's own (a corrupted upstream) */
  served?: Buffer;
}

/**
 * Publishes a simple index on `index` under `prefix`: the root page, one page per project, and
 * the files (on `index` under `packages/`, or on the project's filesHost under `files/`).
 * Returns the upstream path of each project's file.
 */
export function publishIndex(
  index: UpstreamServer,
  prefix: string,
  projects: PublishedProject[],
): Map<string, { server: UpstreamServer; path: string }> {
  const files = new Map<string, { server: UpstreamServer; path: string }>();
  const links: string[] = [];
  for (const { wheel, form, filesHost, served } of projects) {
    const normalized = wheel.project.toLowerCase();
    links.push(`<a href="${normalized}/">${wheel.project}</a>`);
    const server = filesHost ?? index;
    const path = filesHost ? `files/${wheel.fileName}` : `${prefix}/packages/${wheel.fileName}`;
    server.set(path, { body: served ?? wheel.bytes, contentType: 'application/octet-stream' });
    files.set(wheel.project, { server, path });
    const url = filesHost ? `${filesHost.url}/${path}` : `../../packages/${wheel.fileName}`;
    const page = `${prefix}/simple/${normalized}/`;
    if (form === 'json') {
      index.set(page, {
        contentType: 'application/vnd.pypi.simple.v1+json',
        body: JSON.stringify({
          meta: { 'api-version': '1.0' },
          name: normalized,
          files: [
            {
              filename: wheel.fileName,
              url,
              hashes: { sha256: wheel.sha256 },
              'requires-python': '>=3.7',
            },
          ],
        }),
      });
    } else {
      index.set(page, {
        contentType: 'text/html',
        body: [
          '<!DOCTYPE html><html><body>',
          `<a href="${url}#sha256=${wheel.sha256}" data-requires-python="&gt;=3.7">${wheel.fileName}</a>`,
          '</body></html>',
        ].join('\n'),
      });
    }
  }
  index.set(`${prefix}/simple/`, {
    contentType: 'text/html',
    body: `<!DOCTYPE html><html><body>${links.join('\n')}</body></html>`,
  });
  return files;
}

/** pip with no configuration, cache or index of its own: what it installs comes from `indexUrl`. */
export async function pipInstall(
  indexUrl: string,
  target: string,
  requirements: string[],
): Promise<{ stdout: string; stderr: string }> {
  return runCommand(
    'python3',
    [
      '-m',
      'pip',
      'install',
      '--no-cache-dir',
      '--disable-pip-version-check',
      '--no-input',
      '--timeout',
      '20',
      '--retries',
      '0',
      '--index-url',
      indexUrl,
      '--target',
      target,
      ...requirements,
    ],
    {
      env: {
        PATH: process.env.PATH,
        HOME: target,
        PIP_CONFIG_FILE: '/dev/null',
        PYTHONDONTWRITEBYTECODE: '1',
      },
      timeoutMs: 90_000,
    },
  );
}

/** What a module installed by pip into `target` says its VALUE is. */
export async function installedValue(target: string, module: string): Promise<string> {
  const source = await readFile(join(target, module, '__init__.py'), 'utf8');
  return /^VALUE = '(.*)'$/m.exec(source)?.[1] ?? source;
}
