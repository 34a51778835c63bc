/** Why an upstream request produced no usable response. */
export type UpstreamFailure =
  'unreachable' | 'timeout' | 'status' | 'redirect_loop' | 'redirect_refused';

export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    readonly status?: number,
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
