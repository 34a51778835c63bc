import type { UpstreamMissingPolicy } from '@app/config';
import type { UpstreamAnswer } from '@app/upstream';

export interface FetchSituation {
  /** a revalidation of a copy we hold (kind `revalidate` and something stored) */
  revalidating: boolean;
  upstreamMissing: UpstreamMissingPolicy;
}

/** What the fetch does next. */
export type UpstreamVerdict =
  /** 200: download, verify, publish */
  | { action: 'store' }
  /** 304 to our validators: the copy is current */
  | { action: 'unchanged' }
  /** the upstream could not confirm the copy: keep serving it, for another TTL */
  | { action: 'keep_stale'; reason: 'unreachable' | 'upstream_missing' | 'throttled' }
  /** 404/410: remembered for negative_ttl; `forget` drops the copy we held */
  | { action: 'not_found'; forget: boolean }
  /** worth another attempt (BullMQ retries with backoff) */
  | { action: 'retry'; reason: 'upstream_unavailable' | 'upstream_timeout' }
  /** 429, or our own limit: not retried by us (that spends the budget); clients wait retryAfter */
  | { action: 'rate_limited'; retryAfter: number | undefined }
  /** an answer that will not change by asking again */
  | { action: 'refuse' };

/**
 * The upstream-response policy of docs/CACHING.md as one table: transient failures are retried,
 * except that a revalidation serves its copy stale instead; a 404 is final, and during a
 * revalidation `upstream_missing` decides whether the copy stays.
 */
export function upstreamVerdict(
  answer: UpstreamAnswer,
  situation: FetchSituation,
): UpstreamVerdict {
  const { revalidating } = situation;
  if ('failure' in answer) {
    if (answer.failure === 'redirect_refused') {
      return { action: 'refuse' };
    }
    if (answer.failure === 'throttled') {
      return revalidating
        ? { action: 'keep_stale', reason: 'throttled' }
        : { action: 'rate_limited', retryAfter: answer.retryAfter };
    }
    if (revalidating) {
      return { action: 'keep_stale', reason: 'unreachable' };
    }
    return {
      action: 'retry',
      reason: answer.failure === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable',
    };
  }
  const { status } = answer;
  if (status === 200) {
    return { action: 'store' };
  }
  if (status === 304 && revalidating) {
    return { action: 'unchanged' };
  }
  if (status === 404 || status === 410) {
    if (revalidating && situation.upstreamMissing === 'serve_stale') {
      return { action: 'keep_stale', reason: 'upstream_missing' };
    }
    return { action: 'not_found', forget: revalidating };
  }
  const transient = status === 429 || status >= 500;
  if (revalidating && (transient || status === 401 || status === 403)) {
    return { action: 'keep_stale', reason: 'unreachable' };
  }
  if (status === 429) {
    return { action: 'rate_limited', retryAfter: answer.retryAfter };
  }
  if (status >= 500) {
    return { action: 'retry', reason: 'upstream_unavailable' };
  }
  return { action: 'refuse' };
}
