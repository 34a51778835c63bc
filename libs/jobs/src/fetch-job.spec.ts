import {
  FETCH_FAILURE_REASONS,
  FETCH_QUEUE,
  METADATA_FETCH_QUEUE,
  fetchJobId,
  fetchQueueFor,
  formatFailure,
  parseFailure,
} from './fetch-job';

describe('fetchJobId', () => {
  it('is the same for the same artifact and differs between remotes and paths', () => {
    expect(fetchJobId('alpine', 'a/b.apk')).toBe(fetchJobId('alpine', 'a/b.apk'));
    expect(fetchJobId('alpine', 'a/b.apk')).not.toBe(fetchJobId('alpine2', 'a/b.apk'));
    expect(fetchJobId('al', 'pine/a')).not.toBe(fetchJobId('alp', 'ine/a'));
  });

  it('never contains a colon (BullMQ refuses custom ids with one)', () => {
    expect(fetchJobId('x', 'a:b')).not.toContain(':');
  });
});

describe('failure reasons', () => {
  it.each([
    [{ reason: 'upstream_not_found', message: 'GET https://x/y answered 404' }],
    [{ reason: 'upstream_rate_limited', message: 'upstream answered 429', retryAfter: 30 }],
    [{ reason: 'upstream_timeout', message: 'silent for 2000 ms\nsecond line' }],
  ] as const)('round-trips %j', (failure) => {
    expect(parseFailure(formatFailure(failure))).toEqual(failure);
  });

  it('reads every reason it writes', () => {
    for (const reason of FETCH_FAILURE_REASONS) {
      expect(parseFailure(formatFailure({ reason, message: 'm' })).reason).toBe(reason);
    }
  });

  it('treats anything unknown as an upstream failure', () => {
    expect(parseFailure('job stalled more than allowable limit')).toEqual({
      reason: 'upstream_unavailable',
      message: 'job stalled more than allowable limit',
    });
  });
});

describe('fetchQueueFor', () => {
  it.each([
    [{ kind: 'immutable' }, FETCH_QUEUE],
    [{ kind: 'immutable', manifestDigestKeyPrefix: 'hub/a/_manifests' }, METADATA_FETCH_QUEUE],
    [{ kind: 'mutable' }, METADATA_FETCH_QUEUE],
    [{ kind: 'revalidate' }, METADATA_FETCH_QUEUE],
  ] as const)('%j → %s', (request, queue) => {
    expect(fetchQueueFor(request)).toBe(queue);
  });
});
