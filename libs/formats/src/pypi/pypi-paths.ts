import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { FetchTarget } from '../fetch-target';
import { linkedFileTarget } from '../linked-files';

/**
 * The paths of a pypi remote (docs/FORMATS.md):
 * - `simple/` and `simple/<project>/`: the simple index (PEP 503 HTML or PEP 691 JSON, by
 *   Accept), mutable, stored rewritten so that its file links lead back to the cache;
 * - `files/<sha256 or _>/<host>/<path>`: a file an index links to, immutable and verified
 *   (libs/formats linked-files).
 */
export type IndexVariant = 'html' | 'json';

const INDEX_TYPES: Readonly<Record<IndexVariant, string>> = {
  html: 'application/vnd.pypi.simple.v1+html',
  json: 'application/vnd.pypi.simple.v1+json',
};

/** Asked of the upstream per variant; an index that only has HTML answers HTML to both. */
const UPSTREAM_ACCEPT: Readonly<Record<IndexVariant, string>> = {
  html: `${INDEX_TYPES.html}, text/html;q=0.9`,
  json: `${INDEX_TYPES.json}, ${INDEX_TYPES.html};q=0.2, text/html;q=0.1`,
};

/**
 * PEP 691's choice: JSON when the client ranks a JSON type above every HTML type; HTML
 * otherwise (no Accept, `*\/*`, or HTML only).
 */
export function indexVariantOf(accept: string | undefined): IndexVariant {
  let json = 0;
  let html = 0;
  for (const part of (accept ?? '').split(',')) {
    const [type, ...parameters] = part.trim().toLowerCase().split(';');
    const q = qualityOf(parameters);
    if (/^application\/vnd\.pypi\.simple\.(v1|latest)\+json$/.test(type)) {
      json = Math.max(json, q);
    } else if (/^application\/vnd\.pypi\.simple\.(v1|latest)\+html$|^text\/html$/.test(type)) {
      html = Math.max(html, q);
    }
  }
  return json > 0 && json >= html ? 'json' : 'html';
}

function qualityOf(parameters: string[]): number {
  for (const parameter of parameters) {
    const match = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(parameter);
    if (match) {
      const q = Number(match[1]);
      return Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0;
    }
  }
  return 1;
}

/** PEP 503's normalized project name: runs of `-`, `_` and `.` become one `-`, lower case. */
export function normalizeProject(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** Throws `bad_path` or `forbidden` ArtifactErrors for a path a pypi remote does not serve. */
export function pypiTarget(
  remote: ProxyRemoteConfig,
  path: string,
  accept: string | undefined,
): FetchTarget {
  const segments = path.split('/');
  if (segments[segments.length - 1] === '') {
    segments.pop();
  }
  if (segments[0] === 'simple') {
    return indexTarget(remote, segments.slice(1), accept);
  }
  if (segments[0] === 'files') {
    // PEP 658: a client asks for `<file URL>.metadata`, under the digest of the file it
    // describes; the index gives the metadata's own digest, which the client checks.
    return linkedFileTarget(remote, segments.slice(1), {
      unverified: (path) => path.endsWith('.metadata'),
    });
  }
  throw new ArtifactError(
    'forbidden',
    `${path} is not a path of pypi remote ${remote.name}: its index is under simple/, and the files it links to under files/`,
  );
}

function indexTarget(
  remote: ProxyRemoteConfig,
  rest: string[],
  accept: string | undefined,
): FetchTarget {
  // `index.<variant>` names a stored variant: the path a fetch job carries.
  const last = rest[rest.length - 1];
  const named = /^index\.(html|json)$/.exec(last ?? '');
  const variant: IndexVariant = named ? (named[1] as IndexVariant) : indexVariantOf(accept);
  const projectSegments = named ? rest.slice(0, -1) : rest;
  if (projectSegments.length > 1) {
    throw new ArtifactError('forbidden', `simple/${rest.join('/')} is not a simple index page`);
  }
  const project = projectSegments.length === 1 ? normalizeProject(projectSegments[0]) : null;
  if (project !== null && !isIncluded(remote, project)) {
    throw new ArtifactError(
      'forbidden',
      `${project} is not allowed by ${remote.name}'s include_patterns`,
    );
  }
  const page = project === null ? 'simple/' : `simple/${project}/`;
  return {
    pathClass: 'mutable',
    jobPath: `${page}index.${variant}`,
    storageKey: `${remote.name}/${page}index.${variant}`,
    upstreamPath: page,
    accept: UPSTREAM_ACCEPT[variant],
    document: { kind: 'index' },
  };
}
