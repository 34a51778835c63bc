/**
 * Why an upstream request produced no usable response. `throttled`: it was never sent, the
 * remote's own limits (max_requests_per_minute, max_concurrent) held it too long.
 */
export type UpstreamFailure =
  'unreachable' | 'timeout' | 'status' | 'redirect_loop' | 'redirect_refused' | 'throttled';

export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    readonly status?: number,
    /** seconds after which asking again makes sense (throttled) */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }

  /** Worth retrying, or serving a stale copy instead (docs/CACHING.md: network, timeout, 5xx, 429). */
  get transient(): boolean {
    if (this.failure === 'redirect_refused' || this.failure === 'redirect_loop') {
      return false;
    }
    return this.failure !== 'status' || this.status === 429 || (this.status ?? 0) >= 500;
  }
}
