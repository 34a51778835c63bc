import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, classifyPath, isIncluded } from '@app/config';
import type { FetchTarget } from '../fetch-target';

/**
 * rpm, debian, alpine and generic remotes: a path is fetched and stored as it is, immutable or
 * mutable by the remote's patterns (or its package's defaults, libs/config package-defaults).
 */
export function patternTarget(remote: ProxyRemoteConfig, path: string): FetchTarget {
  if (!isIncluded(remote, path)) {
    throw new ArtifactError(
      'forbidden',
      `${path} is not allowed by ${remote.name}'s include_patterns`,
    );
  }
  const pathClass = classifyPath(remote, path);
  if (pathClass === 'forbidden') {
    throw new ArtifactError('forbidden', `${path} matches none of ${remote.name}'s patterns`);
  }
  return { pathClass, storageKey: `${remote.name}/${path}`, upstreamPath: path };
}
