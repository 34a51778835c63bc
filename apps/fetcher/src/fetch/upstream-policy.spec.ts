import { type FetchSituation, upstreamVerdict } from './upstream-policy';

const fetching: FetchSituation = { revalidating: false, upstreamMissing: 'serve_stale' };
const revalidating: FetchSituation = { revalidating: true, upstreamMissing: 'serve_stale' };
const strict: FetchSituation = { revalidating: true, upstreamMissing: 'not_found' };

describe('upstreamVerdict', () => {
  it.each([
    // answer, situation, verdict
    [{ status: 200 }, fetching, { action: 'store' }],
    [{ status: 200 }, revalidating, { action: 'store' }],
    [{ status: 304 }, revalidating, { action: 'unchanged' }],
    [{ status: 304 }, fetching, { action: 'refuse' }],
    [{ status: 404 }, fetching, { action: 'not_found', forget: false }],
    [{ status: 410 }, fetching, { action: 'not_found', forget: false }],
    [{ status: 404 }, revalidating, { action: 'keep_stale', reason: 'upstream_missing' }],
    [{ status: 404 }, strict, { action: 'not_found', forget: true }],
    [{ status: 500 }, fetching, { action: 'retry', reason: 'upstream_unavailable' }],
    [{ status: 503 }, fetching, { action: 'retry', reason: 'upstream_unavailable' }],
    [{ status: 503 }, revalidating, { action: 'keep_stale', reason: 'unreachable' }],
    [{ status: 429, retryAfter: 30 }, fetching, { action: 'rate_limited', retryAfter: 30 }],
    [{ status: 429 }, revalidating, { action: 'keep_stale', reason: 'unreachable' }],
    [{ status: 401 }, fetching, { action: 'refuse' }],
    [{ status: 403 }, fetching, { action: 'refuse' }],
    [{ status: 401 }, revalidating, { action: 'keep_stale', reason: 'unreachable' }],
    [{ status: 400 }, revalidating, { action: 'refuse' }],
    [{ status: 206 }, fetching, { action: 'refuse' }],
    [{ failure: 'unreachable' }, fetching, { action: 'retry', reason: 'upstream_unavailable' }],
    [{ failure: 'timeout' }, fetching, { action: 'retry', reason: 'upstream_timeout' }],
    [{ failure: 'timeout' }, revalidating, { action: 'keep_stale', reason: 'unreachable' }],
    [{ failure: 'redirect_refused' }, fetching, { action: 'refuse' }],
    [{ failure: 'redirect_refused' }, revalidating, { action: 'refuse' }],
    [
      { failure: 'throttled', retryAfter: 20 },
      fetching,
      { action: 'rate_limited', retryAfter: 20 },
    ],
    [{ failure: 'throttled' }, revalidating, { action: 'keep_stale', reason: 'throttled' }],
  ] as const)('%j while %j → %j', (answer, situation, verdict) => {
    expect(upstreamVerdict(answer, situation)).toEqual(verdict);
  });
});
