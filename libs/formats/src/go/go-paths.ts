import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { FetchTarget } from '../fetch-target';
import type { FixedAnswer } from '../formats';

/**
 * The paths of a go remote, a module proxy (GOPROXY protocol, docs/FORMATS.md):
 * - `<module>/@v/<version>.info`, `.mod`, `.zip`: immutable (a version's files never change);
 * - `<module>/@v/list` and `<module>/@latest`: mutable;
 * - `sumdb/<name>/...`: the checksum database named by the remote's sumdb_url (its host), so
 *   that GOSUMDB works through the cache: `supported` (answered by the gateway), `lookup/...`
 *   and the tiles immutable, `latest` mutable.
 * Module paths come case-encoded (`!` before a lower-cased capital), as go sends them.
 */
const VERSION_FILE = /^(.+)\/@v\/([^/]+)\.(info|mod|zip)$/;
const MUTABLE_FILE = /^(.+)\/(?:@v\/list|@latest)$/;
const ENCODED_MODULE = /^[a-z0-9.~_!-]+(?:\/[a-z0-9.~_!+-]+)*$/;

export function goTarget(remote: ProxyRemoteConfig, path: string): FetchTarget {
  if (path.startsWith('sumdb/')) {
    return sumdbTarget(remote, path);
  }
  const versioned = VERSION_FILE.exec(path);
  const module = versioned?.[1] ?? MUTABLE_FILE.exec(path)?.[1];
  if (module === undefined || !ENCODED_MODULE.test(module)) {
    throw new ArtifactError(
      'forbidden',
      `${path} is not a path of go remote ${remote.name}: <module>/@v/list, <module>/@v/<version>.info|.mod|.zip, <module>/@latest or sumdb/...`,
    );
  }
  const decoded = decodeCase(module);
  if (!isIncluded(remote, decoded)) {
    throw new ArtifactError(
      'forbidden',
      `${decoded} is not allowed by ${remote.name}'s include_patterns`,
    );
  }
  return {
    pathClass: versioned ? 'immutable' : 'mutable',
    storageKey: `${remote.name}/${path}`,
    upstreamPath: path,
  };
}

/**
 * `sumdb/<name>/supported`: 200 when the remote proxies that checksum database (go then asks
 * the cache for it), else the 404 that sends go to the database directly.
 */
export function goAnswer(remote: ProxyRemoteConfig, path: string): FixedAnswer | null {
  const name = sumdbName(remote);
  if (name === null || path !== `sumdb/${name}/supported`) {
    return null;
  }
  return { body: '', contentType: 'text/plain; charset=utf-8' };
}

/** The name go knows the remote's checksum database by: its URL's host. */
export function sumdbName(remote: ProxyRemoteConfig): string | null {
  return remote.sumdbUrl === null ? null : new URL(remote.sumdbUrl).host;
}

/** A version's file of a go path (`<module>/@v/<version>.<ext>`), its names decoded; else null. */
export function goVersionFile(path: string): GoVersionFile | null {
  const versioned = VERSION_FILE.exec(path);
  if (versioned === null) {
    return null;
  }
  const [, encodedModule, encodedVersion, ext] = versioned;
  return {
    module: decodeCase(encodedModule),
    version: decodeCase(encodedVersion),
    ext: ext as GoVersionFile['ext'],
    lookupName: `${encodedModule}@${encodedVersion}`,
  };
}

export interface GoVersionFile {
  /** as written in go.mod (`example.org/Greet`) */
  module: string;
  version: string;
  ext: 'info' | 'mod' | 'zip';
  /** `<module>@<version>` as the checksum database's lookup path takes it (case-encoded) */
  lookupName: string;
}

/** GOPROXY's case-encoding undone: `!g` is `G`. */
function decodeCase(encoded: string): string {
  return encoded.replace(/!([a-z])/g, (_all, letter: string) => letter.toUpperCase());
}

function sumdbTarget(remote: ProxyRemoteConfig, path: string): FetchTarget {
  const [, name, ...rest] = path.split('/');
  if (name !== sumdbName(remote) || rest.length === 0) {
    throw new ArtifactError('not_found', `${remote.name} proxies no checksum database ${name}`);
  }
  const what = rest[0];
  if (what !== 'latest' && what !== 'lookup' && what !== 'tile') {
    throw new ArtifactError(
      'forbidden',
      `sumdb/${name}/${rest.join('/')} is not a checksum database path`,
    );
  }
  return {
    pathClass: what === 'latest' ? 'mutable' : 'immutable',
    storageKey: `${remote.name}/${path}`,
    upstreamPath: rest.join('/'),
    upstreamBaseUrl: remote.sumdbUrl ?? undefined,
  };
}
