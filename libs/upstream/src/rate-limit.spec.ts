import { rateLimitOf } from './rate-limit';

describe('rateLimitOf', () => {
  it.each([
    [{}, null],
    [
      { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' },
      { limit: 100, remaining: 76 },
    ],
    [
      { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0' },
      { limit: 5000, remaining: 0 },
    ],
    [{ 'ratelimit-remaining': '3' }, { limit: null, remaining: 3 }],
    [
      { 'ratelimit-limit': '10', 'x-ratelimit-limit': '99' },
      { limit: 10, remaining: null },
    ],
    [{ 'ratelimit-limit': 'many' }, null],
  ])('%j → %j', (headers, rateLimit) => {
    expect(rateLimitOf(headers)).toEqual(rateLimit);
  });
});
