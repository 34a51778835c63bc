import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { ExpectedDigest, FetchTarget } from '../fetch-target';

/**
 * The paths of an npm remote (docs/FORMATS.md):
 * - `<name>` and `@scope/<name>` (npm asks `@scope%2f<name>`): the packument, mutable, in the
 *   full or the abbreviated form (by Accept), stored with its tarball links rewritten;
 * - `<name>/-/<file>.tgz`: a tarball as the registry names it, immutable;
 * - `_tarballs/<algorithm>-<hex>/<name>/-/<file>.tgz`: a tarball as a rewritten packument links
 *   it, verified against the packument's `dist.integrity` (sha512) or `shasum` (sha1).
 * Package names never start with `_`, so `_tarballs` and `_packument` cannot be one.
 */
export type PackumentForm = 'full' | 'abbreviated';

const ABBREVIATED = 'application/vnd.npm.install-v1+json';
const UPSTREAM_ACCEPT: Readonly<Record<PackumentForm, string>> = {
  full: 'application/json',
  abbreviated: `${ABBREVIATED}; q=1.0, application/json; q=0.8, */*`,
};
export const TARBALLS = '_tarballs';
const PACKUMENT = '_packument';
const DIGEST_HEX: Readonly<Record<ExpectedDigest['algorithm'], RegExp>> = {
  sha512: /^[0-9a-f]{128}$/,
  sha1: /^[0-9a-f]{40}$/,
};
// npm's rules for a name part: URL-safe, no leading `.` or `_`, no upper case in new names
// (old ones have it), at most 214 characters in all.
const NAME_PART = /^(?![._])[A-Za-z0-9._~!*'()-]+$/;

/** npm asks for a scoped packument as `@scope%2fname`: the one encoded slash a path may have. */
export function npmRawPath(rawPath: string): string {
  return rawPath.replace(/^(@[^/%]+)%2f/i, '$1/');
}

/** The abbreviated packument when the client asks for it first (npm install does). */
export function packumentFormOf(accept: string | undefined): PackumentForm {
  return (accept ?? '').trim().toLowerCase().startsWith(ABBREVIATED) ? 'abbreviated' : 'full';
}

export function npmTarget(
  remote: ProxyRemoteConfig,
  path: string,
  accept: string | undefined,
): FetchTarget {
  const segments = path.split('/');
  if (segments[0] === TARBALLS) {
    return verifiedTarballTarget(remote, segments);
  }
  const nameLength = segments[0].startsWith('@') ? 2 : 1;
  const name = packageName(remote, segments.slice(0, nameLength));
  const rest = segments.slice(nameLength);
  if (rest.length === 0) {
    return packumentTarget(remote, name, packumentFormOf(accept));
  }
  if (rest.length === 2 && rest[0] === PACKUMENT) {
    const named = /^(full|abbreviated)\.json$/.exec(rest[1]);
    if (named) {
      return packumentTarget(remote, name, named[1] as PackumentForm);
    }
  }
  if (rest.length === 2 && rest[0] === '-' && rest[1].endsWith('.tgz')) {
    return tarballTarget(remote, path, path, undefined);
  }
  throw new ArtifactError(
    'forbidden',
    `${path} is not a path of npm remote ${remote.name}: a packument (<name>) or a tarball (<name>/-/<file>.tgz)`,
  );
}

function packageName(remote: ProxyRemoteConfig, parts: string[]): string {
  const scoped = parts.length === 2;
  const valid =
    parts.every((part, i) => NAME_PART.test(scoped && i === 0 ? part.slice(1) : part)) &&
    parts.join('/').length <= 214;
  if (!valid || (scoped && !parts[0].startsWith('@'))) {
    throw new ArtifactError('bad_path', `${parts.join('/')} is not an npm package name`);
  }
  const name = parts.join('/');
  if (!isIncluded(remote, name)) {
    throw new ArtifactError(
      'forbidden',
      `${name} is not allowed by ${remote.name}'s include_patterns`,
    );
  }
  return name;
}

function packumentTarget(
  remote: ProxyRemoteConfig,
  name: string,
  form: PackumentForm,
): FetchTarget {
  const jobPath = `${name}/${PACKUMENT}/${form}.json`;
  return {
    pathClass: 'mutable',
    jobPath,
    storageKey: `${remote.name}/${jobPath}`,
    upstreamPath: name,
    accept: UPSTREAM_ACCEPT[form],
    document: { kind: 'index' },
  };
}

function verifiedTarballTarget(remote: ProxyRemoteConfig, segments: string[]): FetchTarget {
  const match = /^(sha512|sha1)-([0-9a-f]+)$/.exec(segments[1] ?? '');
  const algorithm = match?.[1] as ExpectedDigest['algorithm'] | undefined;
  if (!match || !algorithm || !DIGEST_HEX[algorithm].test(match[2])) {
    throw new ArtifactError(
      'bad_path',
      `${TARBALLS}/${segments[1] ?? ''}: expected sha512-<128 hex> or sha1-<40 hex>`,
    );
  }
  const upstream = segments.slice(2);
  const nameLength = upstream[0]?.startsWith('@') ? 2 : 1;
  packageName(remote, upstream.slice(0, nameLength));
  const rest = upstream.slice(nameLength);
  if (rest.length !== 2 || rest[0] !== '-' || !rest[1].endsWith('.tgz')) {
    throw new ArtifactError(
      'bad_path',
      `${segments.join('/')}: expected <name>/-/<file>.tgz after the digest`,
    );
  }
  return tarballTarget(remote, segments.join('/'), upstream.join('/'), {
    algorithm,
    hex: match[2],
  });
}

function tarballTarget(
  remote: ProxyRemoteConfig,
  path: string,
  upstreamPath: string,
  expectedDigest: ExpectedDigest | undefined,
): FetchTarget {
  return {
    pathClass: 'immutable',
    storageKey: `${remote.name}/${path}`,
    upstreamPath,
    expectedDigest,
  };
}
