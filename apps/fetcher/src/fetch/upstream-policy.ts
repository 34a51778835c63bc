import type { UpstreamMissingPolicy } from '@app/config';

/**
 * What the upstream said to a fetch: a status, or no usable answer at all. `throttled`: the
 * request was never sent, the remote's own limits held it (retryAfter: when to ask again).
 */
export type UpstreamAnswer =
  | { status: number; retryAfter?: number }
  | { failure: 'unreachable' | 'timeout' | 'redirect_refused'; message?: string }
  | { failure: 'throttled'; message?: string; retryAfter?: number };

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

/**
 * Whether an answer counts against the upstream's circuit breaker: no answer, a 5xx or a 429
 * say it is failing; any other answer (a 404 too) says it is up. A refused redirect and a
 * request our own limits held are our rules, not the upstream failing.
 */
export function upstreamFailed(answer: UpstreamAnswer): boolean {
  if ('failure' in answer) {
    return answer.failure !== 'redirect_refused' && answer.failure !== 'throttled';
  }
  return answer.status >= 500 || answer.status === 429;
}

/** Retry-After in seconds from its delay-seconds or HTTP-date form (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed);
  }
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
