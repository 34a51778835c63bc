import { parseRetryAfter, upstreamFailed } from './upstream-answer';

describe('upstreamFailed (the circuit breaker counts these)', () => {
  it.each([
    [{ status: 200 }, false],
    [{ status: 304 }, false],
    [{ status: 404 }, false],
    [{ status: 401 }, false],
    [{ status: 429 }, true],
    [{ status: 500 }, true],
    [{ status: 503 }, true],
    [{ failure: 'unreachable' }, true],
    [{ failure: 'timeout' }, true],
    [{ failure: 'redirect_refused' }, false],
    [{ failure: 'throttled' }, false],
  ] as const)('%j → %s', (answer, failed) => {
    expect(upstreamFailed(answer)).toBe(failed);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  it.each([
    ['120', 120],
    [' 0 ', 0],
    ['Tue, 01 Dec 2026 10:00:30 GMT', 30],
    ['Tue, 01 Dec 2026 09:00:00 GMT', 0],
    ['soon', undefined],
    [undefined, undefined],
  ])('%j → %j', (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });
});
