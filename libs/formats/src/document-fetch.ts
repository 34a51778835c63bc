import type { ProxyRemoteConfig } from '@app/config';
import type { FetchFailureReason, StoredArtifact } from '@app/jobs';
import type { UpstreamResponse } from '@app/upstream';
import { INDEX_MAX_BYTES, readDocument } from './document';
import type { FetchTarget } from './fetch-target';
import type { FetchedDocument } from './formats';

/**
 * What a format's document handling (PackageFormat.storeDocument) may do within the fetch job
 * it runs in. The fetcher provides it; the format decides what is stored under which keys.
 */
export interface DocumentFetch {
  readonly remote: ProxyRemoteConfig;
  readonly target: FetchTarget;
  /** the job's path (what its record and its Redis state name) */
  readonly path: string;
  /** stores a small document under `key`; checked against `sha256` when given */
  write(
    key: string,
    bytes: Buffer,
    contentType: string,
    sha256: string | undefined,
  ): Promise<{ size: number; sha256: string }>;
  /**
   * The job's artifact is stored: its Redis state (fresh, validators from `headers`) and its
   * record are written. `refersTo`: the digests it names (docker manifests).
   */
  published(
    artifact: StoredArtifact,
    headers: Record<string, string>,
    refersTo?: string[] | null,
  ): Promise<void>;
  /** A record of another path whose bytes were stored too (under `artifact.storageKey`). */
  recordAlso(path: string, artifact: StoredArtifact, refersTo: string[] | null): void;
  /** The upstream's answer to a GET of the job's upstream path with `query`; null: none. */
  page(query: string): Promise<{ response: UpstreamResponse | null; message: string }>;
  /** What the upstream says a mutable document is now, for the revalidations of the next seconds. */
  rememberCheck(digest: string): Promise<void>;
  /** An error that fails the job: `final` ones are not retried. */
  failure(reason: FetchFailureReason, message: string, final: boolean): Error;
  warn(message: string): void;
}

/**
 * The storeDocument of a format whose documents are rewritten whole before they are stored
 * (pypi's index, npm's packuments, cargo's config.json): read (capped), rewritten, stored under
 * the job's key.
 */
export function storeRewritten(
  rewrite: (fetched: FetchedDocument, remote: ProxyRemoteConfig, target: FetchTarget) => Buffer,
  /** stored when the upstream names none */
  defaultType: string,
): (fetch: DocumentFetch, response: UpstreamResponse) => Promise<StoredArtifact> {
  return async (fetch, response) => {
    const contentType = response.headers['content-type'];
    const body = await readDocument(response.body, INDEX_MAX_BYTES, 'index page');
    const bytes = rewrite({ body, contentType }, fetch.remote, fetch.target);
    const storedType = contentType ?? defaultType;
    const written = await fetch.write(fetch.target.storageKey, bytes, storedType, undefined);
    const artifact: StoredArtifact = {
      storageKey: fetch.target.storageKey,
      size: written.size,
      sha256: written.sha256,
      contentType: storedType,
    };
    await fetch.published(artifact, response.headers);
    return artifact;
  };
}
