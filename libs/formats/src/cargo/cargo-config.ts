import { ArtifactError } from '@app/common';
import type { ProxyRemoteConfig } from '@app/config';
import { withOrigin } from '../absolute-links';
import type { FetchTarget } from '../fetch-target';
import type { FetchedDocument } from '../formats';
import { linkedFilePath, locateUnder } from '../linked-files';

const MARKERS = /\{(?:crate|version|prefix|lowerprefix|sha256-checksum)\}/;
const CHECKSUM_MARKER = '{sha256-checksum}';

/**
 * The rewrite (storeRewritten) of cargo's `config.json`: a `dl` under base_url or files_url becomes the
 * cache's `files/{sha256-checksum}/<host>/<path>`, cargo filling in the markers (a `dl` without
 * any gets cargo's default `/{crate}/{version}/download`), so every crate is fetched through the
 * cache and verified against the index's checksum. Stored as a path; presentCargoConfig adds
 * the host a client reached the cache at. The other keys (`api`, `auth-required`) are kept.
 */
export function rewriteCargoConfig(
  fetched: FetchedDocument,
  remote: ProxyRemoteConfig,
  _target: FetchTarget,
): Buffer {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fetched.body.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ArtifactError(
      'upstream_integrity',
      `config.json is not JSON: ${(error as Error).message}`,
    );
  }
  if (typeof config.dl !== 'string') {
    throw new ArtifactError('upstream_integrity', 'config.json has no dl');
  }
  const template = MARKERS.test(config.dl)
    ? config.dl
    : `${config.dl.replace(/\/+$/, '')}/{crate}/{version}/download`;
  let url: URL;
  try {
    url = new URL(template);
  } catch {
    return Buffer.from(JSON.stringify(config));
  }
  const located = url.search !== '' ? null : locateUnder(url, remote);
  if (located !== null) {
    // The URL parser encoded the markers' braces; cargo looks for them as written.
    const path = located.path.replace(/%7B/gi, '{').replace(/%7D/gi, '}');
    config.dl = linkedFilePath(remote.name, CHECKSUM_MARKER, { host: located.host, path });
  }
  return Buffer.from(JSON.stringify(config));
}

/** The stored config.json as one client gets it: `dl` made absolute with its origin. */
export function presentCargoConfig(stored: Buffer, origin: string): Buffer {
  return withOrigin(stored, 'dl', origin);
}
