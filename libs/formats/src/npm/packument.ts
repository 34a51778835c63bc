import { ArtifactError } from '@app/common';
import type { ProxyRemoteConfig } from '@app/config';
import { withOrigin } from '../absolute-links';
import type { FetchTarget } from '../fetch-target';
import type { FetchedDocument } from '../formats';
import { locateUnder } from '../linked-files';
import { ARTIFACT_ROUTE_PREFIX } from '../routes';
import { TARBALLS, npmTarget } from './npm-paths';

/**
 * The rewrite of npm (storeRewritten): each version's `dist.tarball` under base_url becomes the cache's
 * path for it, `/api/v1/remote/<remote>/_tarballs/<sha512 or sha1>-<hex>/<name>/-/<file>.tgz`,
 * with the digest of its `dist.integrity` (or `shasum`); one with neither, the cache's path of
 * its registry path (`<name>/-/<file>.tgz`, not verified by the cache). Stored so, without a
 * host: which host the client reached the cache by is added when it is served
 * (presentPackument). A tarball elsewhere keeps its link.
 */
export function rewritePackument(
  fetched: FetchedDocument,
  remote: ProxyRemoteConfig,
  _target: FetchTarget,
): Buffer {
  let packument: { versions?: unknown };
  try {
    packument = JSON.parse(fetched.body.toString('utf8')) as { versions?: unknown };
  } catch (error) {
    throw new ArtifactError(
      'upstream_integrity',
      `the packument is not JSON: ${(error as Error).message}`,
    );
  }
  const versions = packument.versions;
  if (versions !== null && typeof versions === 'object') {
    for (const version of Object.values(versions as Record<string, unknown>)) {
      const dist = (version as { dist?: Record<string, unknown> } | null)?.dist;
      if (dist && typeof dist.tarball === 'string') {
        dist.tarball = cachedTarball(dist.tarball, dist, remote) ?? dist.tarball;
      }
    }
  }
  return Buffer.from(JSON.stringify(packument));
}

function cachedTarball(
  tarball: string,
  dist: Record<string, unknown>,
  remote: ProxyRemoteConfig,
): string | null {
  const digest = digestOf(dist);
  let url: URL;
  try {
    url = new URL(tarball);
  } catch {
    return null;
  }
  const located =
    url.search === '' ? locateUnder(url, { baseUrl: remote.baseUrl, filesUrl: null }) : null;
  if (located === null) {
    return null;
  }
  let upstreamPath: string;
  try {
    // (`@scope%2fname` decodes to the `@scope/name` the cache's paths use)
    upstreamPath = decodeURIComponent(located.path);
  } catch {
    return null;
  }
  // Without a digest, the registry's own path: cached, though not verified by the cache.
  const path = digest === null ? upstreamPath : `${TARBALLS}/${digest}/${upstreamPath}`;
  try {
    npmTarget(remote, path, undefined);
  } catch {
    return null; // not a layout the cache can fetch by name: the client goes there itself
  }
  const encoded = path
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/^%40/, '@'));
  return `${ARTIFACT_ROUTE_PREFIX}${remote.name}/${encoded.join('/')}`;
}

/** `sha512-<hex>` from the strongest sha512 of `integrity`, else `sha1-<shasum>`; null for neither. */
function digestOf(dist: Record<string, unknown>): string | null {
  if (typeof dist.integrity === 'string') {
    for (const entry of dist.integrity.trim().split(/\s+/)) {
      const match = /^sha512-([A-Za-z0-9+/]{86}==)(?:\?.*)?$/.exec(entry);
      if (match) {
        return `sha512-${Buffer.from(match[1], 'base64').toString('hex')}`;
      }
    }
  }
  if (typeof dist.shasum === 'string' && /^[0-9a-f]{40}$/i.test(dist.shasum)) {
    return `sha1-${dist.shasum.toLowerCase()}`;
  }
  return null;
}

/** The stored packument as one client gets it: tarball links made absolute with its origin. */
export function presentPackument(stored: Buffer, origin: string): Buffer {
  return withOrigin(stored, 'tarball', origin);
}
