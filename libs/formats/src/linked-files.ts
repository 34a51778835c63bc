import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { FetchTarget } from './fetch-target';
import { ARTIFACT_ROUTE_PREFIX } from './routes';

/**
 * Files an index links to (pypi's files, cargo's crates), under the cache path
 * `files/<sha256 or _>/<host>/<path>` that the rewritten index links instead: `<host>` is
 * `index-host` (under base_url) or `files-host` (under files_url), and the sha256 is the one the
 * index gave, which the bytes are verified against. The path alone says what to fetch and how
 * to check it, so a forged job can fetch nothing a client could not.
 */
export type FileHost = 'index-host' | 'files-host';

/** Written into a file link instead of a digest when the index gave none. */
const NO_DIGEST = '_';
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The cache path of a linked file (`digest` lower-case hex, or undefined for none). */
export function linkedFilePath(
  remote: string,
  digest: string | undefined,
  location: { host: FileHost; path: string },
): string {
  return `${ARTIFACT_ROUTE_PREFIX}${remote}/files/${digest ?? NO_DIGEST}/${location.host}/${location.path}`;
}

/**
 * Which of the remote's hosts `url` is under, and its (still encoded) path there; null for
 * neither, or for the host's root itself.
 */
export function locateUnder(
  url: URL,
  remote: Pick<ProxyRemoteConfig, 'baseUrl' | 'filesUrl'>,
): { host: FileHost; path: string } | null {
  const index = pathUnder(url, remote.baseUrl);
  if (index !== null) {
    return { host: 'index-host', path: index };
  }
  const files = remote.filesUrl === null ? null : pathUnder(url, remote.filesUrl);
  return files === null ? null : { host: 'files-host', path: files };
}

function pathUnder(url: URL, base: string): string | null {
  const root = new URL(base);
  const prefix = root.pathname.endsWith('/') ? root.pathname : `${root.pathname}/`;
  if (url.origin !== root.origin || !url.pathname.startsWith(prefix)) {
    return null;
  }
  const path = url.pathname.slice(prefix.length);
  return path === '' ? null : path;
}

/**
 * The target of `files/<digest>/<host>/<path...>` (`rest`: the segments after `files`).
 * `unverified`: paths the cache does not check itself (pypi's PEP 658 metadata, which shares
 * its file's digest segment). `byFileName`: include_patterns are matched against the file name
 * (cargo's download paths end in `download`, so its index files are where they apply).
 */
export function linkedFileTarget(
  remote: ProxyRemoteConfig,
  rest: string[],
  options: { unverified?: (path: string) => boolean; byFileName?: boolean } = {},
): FetchTarget {
  const [digest, host, ...pathSegments] = rest;
  if (digest !== NO_DIGEST && !SHA256_HEX.test(digest ?? '')) {
    throw new ArtifactError(
      'bad_path',
      `files/${digest}/: expected a lower-case hex sha256 or ${NO_DIGEST}`,
    );
  }
  if (host !== 'index-host' && host !== 'files-host') {
    throw new ArtifactError(
      'bad_path',
      `files/${digest}/${host}/: expected index-host or files-host`,
    );
  }
  if (pathSegments.length === 0) {
    throw new ArtifactError('bad_path', `files/${digest}/${host}/: no file path`);
  }
  if (host === 'files-host' && remote.filesUrl === null) {
    throw new ArtifactError('forbidden', `${remote.name} has no files_url`);
  }
  const upstreamPath = pathSegments.join('/');
  const fileName = pathSegments[pathSegments.length - 1];
  if ((options.byFileName ?? true) && !isIncluded(remote, fileName)) {
    throw new ArtifactError(
      'forbidden',
      `${fileName} is not allowed by ${remote.name}'s include_patterns`,
    );
  }
  return {
    pathClass: 'immutable',
    storageKey: `${remote.name}/files/${digest}/${host}/${upstreamPath}`,
    upstreamPath,
    upstreamBaseUrl: host === 'files-host' ? (remote.filesUrl ?? undefined) : undefined,
    expectedSha256: digest === NO_DIGEST || options.unverified?.(upstreamPath) ? undefined : digest,
  };
}
