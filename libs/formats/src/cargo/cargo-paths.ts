import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { FetchTarget } from '../fetch-target';
import { linkedFileTarget } from '../linked-files';

/**
 * The paths of a cargo remote, a sparse registry (docs/FORMATS.md):
 * - `config.json`: mutable, stored with its `dl` rewritten so crates download through the cache;
 * - the index files (`1/<name>`, `2/<name>`, `3/<c>/<name>`, `<ab>/<cd>/<name>`): mutable;
 * - `files/<sha256>/<host>/<path>`: a crate, as the rewritten `dl` names it, immutable and
 *   verified against the index's `cksum` (libs/formats linked-files).
 */
const CARGO_CONFIG = 'config.json';
const CRATE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function cargoTarget(remote: ProxyRemoteConfig, path: string): FetchTarget {
  if (path === CARGO_CONFIG) {
    return {
      pathClass: 'mutable',
      storageKey: `${remote.name}/${CARGO_CONFIG}`,
      upstreamPath: CARGO_CONFIG,
      document: { kind: 'index' },
    };
  }
  const segments = path.split('/');
  if (segments[0] === 'files') {
    return linkedFileTarget(remote, segments.slice(1), { byFileName: false });
  }
  const name = indexFileName(segments);
  if (name === null) {
    throw new ArtifactError(
      'forbidden',
      `${path} is not a path of cargo remote ${remote.name}: config.json, an index file (se/rd/serde) or a crate under files/`,
    );
  }
  if (!isIncluded(remote, name)) {
    throw new ArtifactError(
      'forbidden',
      `${name} is not allowed by ${remote.name}'s include_patterns`,
    );
  }
  return { pathClass: 'mutable', storageKey: `${remote.name}/${path}`, upstreamPath: path };
}

/**
 * The crate an index path is for, when the path is where the index layout puts it (names are
 * lower case in the index: cargo asks for the lower-cased name).
 */
function indexFileName(segments: string[]): string | null {
  const name = segments[segments.length - 1];
  if (!CRATE_NAME.test(name)) {
    return null;
  }
  const expected =
    name.length <= 2
      ? [String(name.length)]
      : name.length === 3
        ? ['3', name[0]]
        : [name.slice(0, 2), name.slice(2, 4)];
  const prefix = segments.slice(0, -1);
  return prefix.length === expected.length && prefix.every((part, i) => part === expected[i])
    ? name
    : null;
}
