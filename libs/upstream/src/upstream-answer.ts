import type { UpstreamError } from './upstream-error';

/**
 * What the upstream said to a request: a status, or no usable answer at all. `throttled`: the
 * request was never sent, the remote's own limits held it (retryAfter: when to ask again).
 */
export type UpstreamAnswer =
  | { status: number; retryAfter?: number }
  | { failure: 'unreachable' | 'timeout' | 'redirect_refused'; message?: string }
  | { failure: 'throttled'; message?: string; retryAfter?: number };

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

/** The answer a request that got no response amounts to. */
export function answerOfError(error: UpstreamError): UpstreamAnswer {
  switch (error.failure) {
    case 'throttled':
      return { failure: 'throttled', message: error.message, retryAfter: error.retryAfter };
    case 'timeout':
      return { failure: 'timeout', message: error.message };
    case 'redirect_refused':
    case 'redirect_loop':
      return { failure: 'redirect_refused', message: error.message };
    case 'unreachable':
    case 'status':
      return { failure: 'unreachable', message: error.message };
  }
}
