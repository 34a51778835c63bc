import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { FetchTarget } from '../fetch-target';
import { MANIFEST_ACCEPT, registryKeys } from './docker-keys';
import { type RegistryRequest, parseRegistryRequest, splitRegistryPath } from './docker-request';

/**
 * The job path of a /v2 request: `<image>/manifests/<tag or sha256:hex>`, `<image>/blobs/sha256:<hex>`
 * or `<image>/tags/list`. A blob's path names its image: registries link blobs to repositories,
 * so one image's 404 (or its failed fetch) must never answer another image's request.
 */
export function dockerJobPath(request: RegistryRequest): string {
  switch (request.kind) {
    case 'blob':
      return `${request.image}/blobs/sha256:${request.digest}`;
    case 'manifest': {
      const ref = request.reference;
      return `${request.image}/manifests/${ref.type === 'digest' ? `sha256:${ref.hex}` : ref.tag}`;
    }
    case 'tags':
      return `${request.image}/tags/list`;
  }
}

export function dockerTarget(remote: ProxyRemoteConfig, path: string): FetchTarget {
  const { segments, operation } = splitRegistryPath(path);
  const request = parseRegistryRequest(segments, operation, '');
  if (!isIncluded(remote, request.image)) {
    throw new ArtifactError(
      'forbidden',
      `${request.image} is not allowed by ${remote.name}'s include_patterns`,
      { registryCode: 'DENIED' },
    );
  }
  const scope = `repository:${request.image}:pull`;
  switch (request.kind) {
    case 'blob':
      return {
        pathClass: 'immutable',
        storageKey: registryKeys.blob(remote.name, request.digest),
        upstreamPath: `v2/${request.image}/blobs/sha256:${request.digest}`,
        expectedSha256: request.digest,
        scope,
      };
    case 'manifest': {
      const ref = request.reference;
      const byDigest = ref.type === 'digest';
      return {
        pathClass: byDigest ? 'immutable' : 'mutable',
        storageKey: byDigest
          ? registryKeys.manifestByDigest(remote.name, request.image, ref.hex)
          : registryKeys.manifestByTag(remote.name, request.image, ref.tag),
        upstreamPath: `v2/${request.image}/manifests/${byDigest ? `sha256:${ref.hex}` : ref.tag}`,
        expectedSha256: byDigest ? ref.hex : undefined,
        accept: MANIFEST_ACCEPT,
        scope,
        digestHeader: byDigest ? undefined : 'docker-content-digest',
        document: {
          kind: 'manifest',
          manifestDigestKeyPrefix: registryKeys.manifestDigestPrefix(remote.name, request.image),
        },
      };
    }
    case 'tags':
      return {
        pathClass: 'mutable',
        storageKey: registryKeys.tagList(remote.name, request.image),
        upstreamPath: `v2/${request.image}/tags/list`,
        scope,
        document: { kind: 'tag_list' },
      };
  }
}
