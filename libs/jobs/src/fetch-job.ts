import type { JobsOptions } from 'bullmq';
import { createHash } from 'node:crypto';
import type { ArtifactErrorCode } from '@app/common';

/** The BullMQ queue between gateways and fetchers for content: packages, blobs, files. */
export const FETCH_QUEUE = 'artifact-fetch';
/**
 * A lane of its own, with its own workers, for what clients need first and is small: index
 * files, manifests, tag lists, revalidations. A burst of large blob misses fills FETCH_QUEUE's
 * workers, never this one's.
 */
export const METADATA_FETCH_QUEUE = 'artifact-fetch-metadata';
export const FETCH_QUEUES = [FETCH_QUEUE, METADATA_FETCH_QUEUE] as const;
export type FetchQueueName = (typeof FETCH_QUEUES)[number];

/** The lane of a fetch: deterministic per artifact, so every replica joins the same job. */
export function fetchQueueFor(request: {
  kind: FetchKind;
  manifestDigestKeyPrefix?: string;
}): FetchQueueName {
  return request.kind === 'immutable' && request.manifestDigestKeyPrefix === undefined
    ? FETCH_QUEUE
    : METADATA_FETCH_QUEUE;
}
export const FETCH_JOB = 'fetch';

/** How every fetch job is added, by a client's miss or a warm-up alike. */
export const FETCH_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  // A completed job must not make a later request skip a needed fetch (after a flush or an
  // expiry), so it is removed at once; its outcome travels in the completion event.
  removeOnComplete: true,
  // Failed jobs stay for inspection; the next request for the artifact removes and re-adds it.
  removeOnFail: { age: 24 * 3600, count: 5000 },
};

/**
 * Client misses carry no priority and run first; warm-up fetches wait behind every one of them
 * (BullMQ runs jobs without a priority before prioritized ones). A client that asks for an
 * artifact a warm-up queued lifts the job to no priority (FetchCoordinator).
 */
export const WARM_FETCH_PRIORITY = 100;
/** Redis pub/sub channel: a job id published here is cancelled by the fetcher that runs it. */
export const FETCH_CANCEL_CHANNEL = 'ac:fetch-cancel';

/**
 * immutable: fetch once, keep forever. mutable: fetch a missing mutable file.
 * revalidate: a cached mutable file expired; ask upstream whether it changed.
 */
export type FetchKind = 'immutable' | 'mutable' | 'revalidate';

/**
 * Job payload. Small JSON only; the fetcher reads its own config for the remote. Add fields
 * rather than change them: an older fetcher may read a newer payload during a rolling update.
 */
export interface FetchJobPayload {
  remote: string;
  /** path after the remote name, no leading slash (cleaned by the gateway) */
  path: string;
  kind: FetchKind;
  /** storage key the fetcher publishes to */
  storageKey: string;
  /** upstream URL path relative to the remote's base_url, no leading slash */
  upstreamPath: string;
  /** hex sha256 the bytes must hash to (docker blobs and digest manifests) */
  expectedSha256?: string;
  /** Accept header to send upstream (docker manifests) */
  accept?: string;
  /** query string for the upstream, without '?' (docker tag lists: n, last) */
  upstreamQuery?: string;
  /** docker token scope, e.g. `repository:library/alpine:pull` */
  scope?: string;
  /**
   * Set for docker manifests: the document is small and read whole, also stored under
   * `<prefix>/sha256/<hex>` (a manifest fetched by tag is reachable by its digest), and a tag is
   * revalidated with a HEAD compared by digest.
   */
  manifestDigestKeyPrefix?: string;
  /** unix ms when the first request asked for it */
  requestedAt: number;
  /**
   * Random per `queue.add` call: tells the gateway that added a job from an older job with the
   * same id (a job that fails within a millisecond must not be mistaken for an earlier failure).
   */
  enqueueId?: string;
  /** the gateway's id of the request that caused the fetch, for the fetcher's log lines */
  requestId?: string;
}

/** A job's payload before it is added (the adder stamps requestedAt and enqueueId). */
export type FetchRequest = Omit<FetchJobPayload, 'requestedAt' | 'enqueueId'>;

/**
 * Published with job.updateProgress once the upstream's headers arrived, so that every waiting
 * gateway can open the in-flight stream on the fetcher that runs the job.
 */
export interface StreamingProgress {
  phase: 'streaming';
  /** URL on the fetcher's own port that streams the bytes received so far, then the rest */
  streamUrl: string;
  /**
   * The spool file the bytes arrive in: a gateway that can open this very file (same host) reads
   * it, and asks `${streamUrl}/windows` only how far it may read. Absent from older fetchers.
   */
  spool?: { path: string; device: number; inode: number };
  contentLength: number | null;
  contentType: string | null;
  /** hex sha256 when known before the first byte (docker blobs) */
  sha256: string | null;
  /** upstream Docker-Content-Digest or similar, passed through */
  upstreamHeaders: Record<string, string>;
}

/**
 * Published when an attempt failed and BullMQ will retry it: the clients waiting now get their
 * error at once (a client retries by itself), while the job goes on for the next request.
 */
export interface RetryingProgress {
  phase: 'retrying';
  /** formatFailure() text */
  failure: string;
}

export type FetchProgress = StreamingProgress | RetryingProgress;

export interface StoredArtifact {
  storageKey: string;
  size: number;
  sha256: string;
  contentType: string | null;
}

export type FetchJobResult = (
  | ({ outcome: 'stored' } & StoredArtifact)
  /** revalidation: upstream said 304; TTL refreshed */
  | ({ outcome: 'unchanged' } & StoredArtifact)
  /** revalidation: upstream unreachable or gone; the cached copy stays and its TTL was refreshed */
  | ({ outcome: 'stale'; reason: StaleReason } & StoredArtifact)
) & {
  /**
   * The enqueueId of the job that produced it: the completion event of an earlier job with the
   * same id (finished just before a new one was added) must not answer the new job's waiters.
   */
  enqueueId?: string;
};

/** `throttled`: the remote's own limits (max_requests_per_minute, max_concurrent) held the check. */
export type StaleReason = 'unreachable' | 'upstream_missing' | 'throttled';

/**
 * Why a fetch failed, for good (UnrecoverableError) or for now (the prefix of its failedReason),
 * and the error the clients waiting on it get.
 */
export const FETCH_FAILURE_CODES = {
  upstream_not_found: 'upstream_not_found',
  upstream_integrity: 'upstream_integrity',
  upstream_unavailable: 'upstream_unavailable',
  upstream_timeout: 'upstream_timeout',
  upstream_rate_limited: 'upstream_rate_limited',
  storage_unavailable: 'storage_unavailable',
  /** the fetcher lost Redis mid-attempt (a failover); an older gateway reads it as upstream_unavailable */
  redis_unavailable: 'service_unavailable',
  cancelled: 'service_unavailable',
} as const satisfies Record<string, ArtifactErrorCode>;
export type FetchFailureReason = keyof typeof FETCH_FAILURE_CODES;
export const FETCH_FAILURE_REASONS = Object.keys(FETCH_FAILURE_CODES) as FetchFailureReason[];

export interface FetchFailure {
  reason: FetchFailureReason;
  message: string;
  /** seconds the upstream asked us to wait (429 Retry-After) */
  retryAfter?: number;
}

const FAILURE_TEXT = new RegExp(
  `^(${FETCH_FAILURE_REASONS.join('|')}): (.*?)(?: \\(retry after (\\d+) s\\))?$`,
  's',
);

/**
 * Failed jobs carry `<reason>: <human message>[ (retry after N s)]` as their failedReason: readable
 * in the queue UI, and mapped by a gateway on any replica without sharing classes with the fetcher.
 */
export function formatFailure(failure: FetchFailure): string {
  const wait = failure.retryAfter !== undefined ? ` (retry after ${failure.retryAfter} s)` : '';
  return `${failure.reason}: ${failure.message}${wait}`;
}

export function parseFailure(failedReason: string | undefined): FetchFailure {
  const text = failedReason ?? '';
  const match = FAILURE_TEXT.exec(text);
  if (!match) {
    return { reason: 'upstream_unavailable', message: text || 'fetch failed' };
  }
  const failure: FetchFailure = { reason: match[1] as FetchFailureReason, message: match[2] };
  if (match[3] !== undefined) {
    failure.retryAfter = Number(match[3]);
  }
  return failure;
}

/**
 * Deterministic job id: the same artifact requested on any gateway replica joins the same job.
 * Hashed because BullMQ ids may not contain ':' and paths may be long.
 */
export function fetchJobId(remote: string, path: string): string {
  return 'fetch-' + createHash('sha256').update(`${remote}\0${path}`).digest('hex').slice(0, 40);
}
