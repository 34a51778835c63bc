import { ArtifactError } from '@app/common';
import { type ProxyRemoteConfig, classifyPath, isIncluded } from '@app/config';
import type { FetchKind, FetchRequest } from '@app/jobs';
import { keyProblem } from '@app/storage';
import { MANIFEST_ACCEPT, registryKeys } from './docker-keys';
import { type RegistryRequest, parseRegistryRequest, splitRegistryPath } from './docker-request';

/**
 * What fetching one artifact of a proxy remote means: where it comes from upstream, where it is
 * stored, and how it is checked. Derived from the remote and the artifact's path alone, by the
 * gateway when it adds a job and again by the fetcher when it runs one, so that a job's payload
 * (which anyone who can write to Redis or the queue UI can forge) never names a storage key or an
 * upstream URL of its own.
 */
export interface FetchTarget {
  pathClass: 'immutable' | 'mutable';
  storageKey: string;
  /** relative to the remote's base_url, no leading slash */
  upstreamPath: string;
  /** hex sha256 the bytes must hash to (docker blobs, manifests by digest) */
  expectedSha256?: string;
  /** Accept header to send upstream (docker manifests) */
  accept?: string;
  /** docker token scope, e.g. `repository:library/alpine:pull` */
  scope?: string;
  /**
   * docker documents, small and read whole: a manifest (also stored under
   * `<manifestDigestKeyPrefix>/sha256/<hex>`, revalidated by digest) or a tag list (pages merged)
   */
  document?: { kind: 'manifest'; manifestDigestKeyPrefix: string } | { kind: 'tag_list' };
}

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

/** Throws `bad_path` or `forbidden` ArtifactErrors for a path the remote does not serve. */
export function fetchTargetOf(remote: ProxyRemoteConfig, path: string): FetchTarget {
  const target =
    remote.package === 'docker' ? dockerTarget(remote, path) : fileTarget(remote, path);
  const problem = keyProblem(target.storageKey);
  if (problem !== null) {
    throw new ArtifactError('bad_path', `${remote.name}/${path}: ${problem}`);
  }
  return target;
}

function fileTarget(remote: ProxyRemoteConfig, path: string): FetchTarget {
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

function dockerTarget(remote: ProxyRemoteConfig, path: string): FetchTarget {
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

/**
 * The job payload of one artifact's fetch. The fetcher derives the upstream URL and the storage
 * key from remote + path itself; they travel too for fetchers of an older release during a
 * rolling update.
 */
export function fetchRequestOf(
  remote: string,
  path: string,
  kind: FetchKind,
  target: FetchTarget,
  requestId?: string,
): FetchRequest {
  return {
    remote,
    path,
    kind,
    requestId,
    storageKey: target.storageKey,
    upstreamPath: target.upstreamPath,
    expectedSha256: target.expectedSha256,
    accept: target.accept,
    scope: target.scope,
    manifestDigestKeyPrefix:
      target.document?.kind === 'manifest' ? target.document.manifestDigestKeyPrefix : undefined,
  };
}
