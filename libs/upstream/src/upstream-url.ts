import { ArtifactError } from '@app/common';

/**
 * The upstream URL of a cleaned path: always `base_url` + '/' + the path with each segment
 * percent-encoded, so no path can name another host or climb above base_url (docs/CACHING.md).
 */
export function upstreamUrl(baseUrl: string, path: string, query = ''): URL {
  const encoded = path.split('/').map(encodeSegment).join('/');
  const url = new URL(`${baseUrl}/${encoded}${query ? `?${query}` : ''}`);
  const base = new URL(baseUrl);
  const basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  if (url.origin !== base.origin || !url.pathname.startsWith(basePath)) {
    throw new ArtifactError(
      'bad_path',
      `path ${JSON.stringify(path)} does not stay under the remote`,
    );
  }
  return url;
}

/**
 * Percent-encodes a path segment, but leaves ':' and '@' as they are: both are legal in a path
 * (RFC 3986 pchar) and registries match `sha256:…` digests literally. '+' stays encoded, since
 * S3-backed mirrors read a literal '+' in a key as a space.
 */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

/** Credentials go only to the remote's own origin, never to a host a redirect names. */
export function sameOrigin(a: URL | string, b: URL | string): boolean {
  return new URL(a).origin === new URL(b).origin;
}
