import { ArtifactError } from '@app/common';
import type { ProxyRemoteConfig } from '@app/config';
import type { FetchKind, FetchRequest } from '@app/jobs';
import { keyProblem } from '@app/storage';
import { FORMATS } from './formats';

/**
 * What fetching one artifact of a proxy remote means: where it comes from upstream, where it is
 * stored, and how it is checked. Derived from the remote and the artifact's path alone, by the
 * gateway when it adds a job and again by the fetcher when it runs one, so that a job's payload
 * (which anyone who can write to Redis or the queue UI can forge) never names a storage key or an
 * upstream URL of its own.
 */
export interface FetchTarget {
  pathClass: 'immutable' | 'mutable';
  /**
   * The path the fetch job, the freshness state and the records name, when it is not the
   * request's own: one per stored variant (pypi's `simple/<project>/index.json`).
   */
  jobPath?: string;
  storageKey: string;
  /** relative to the remote's base_url (or upstreamBaseUrl), no leading slash */
  upstreamPath: string;
  /** another base URL of the remote's config, e.g. a pypi remote's files_url */
  upstreamBaseUrl?: string;
  /** hex sha256 the bytes must hash to (docker blobs, manifests by digest) */
  expectedSha256?: string;
  /** another digest the bytes must hash to (npm tarballs: the packument's integrity or shasum) */
  expectedDigest?: ExpectedDigest;
  /** Accept header to send upstream (docker manifests) */
  accept?: string;
  /** docker token scope, e.g. `repository:library/alpine:pull` */
  scope?: string;
  /**
   * docker documents, small and read whole: a manifest (also stored under
   * `<manifestDigestKeyPrefix>/sha256/<hex>`, revalidated by digest) or a tag list (pages merged)
   */
  document?:
    | { kind: 'manifest'; manifestDigestKeyPrefix: string }
    | { kind: 'tag_list' }
    /** read whole and rewritten by the format before it is stored */
    | { kind: 'index' };
  /**
   * The upstream header a HEAD answers the current digest in: a revalidation compares it with
   * the stored copy's sha256 rather than fetch the document (docker tags' Docker-Content-Digest).
   */
  digestHeader?: string;
}

export interface ExpectedDigest {
  algorithm: 'sha512' | 'sha1';
  hex: string;
}

/**
 * Throws `bad_path` or `forbidden` ArtifactErrors for a path the remote does not serve. `accept`
 * is the client's Accept header, for formats whose documents have variants (pypi's index).
 */
export function fetchTargetOf(
  remote: ProxyRemoteConfig,
  path: string,
  accept?: string,
): FetchTarget {
  const target = FORMATS[remote.package].target(remote, path, accept);
  const problem = keyProblem(target.storageKey);
  if (problem !== null) {
    throw new ArtifactError('bad_path', `${remote.name}/${path}: ${problem}`);
  }
  return target;
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
