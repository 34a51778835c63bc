import { fetchJobId, formatFailure, parseFailure } from './fetch-job';

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
  it('round-trips a reason and message', () => {
    const text = formatFailure('upstream_not_found', 'GET https://x/y answered 404');
    expect(parseFailure(text)).toEqual({
      reason: 'upstream_not_found',
      message: 'GET https://x/y answered 404',
    });
  });

  it('round-trips every reason', () => {
    for (const reason of [
      'upstream_not_found',
      'upstream_integrity',
      'upstream_unavailable',
      'storage_unavailable',
      'redis_unavailable',
    ] as const) {
      expect(parseFailure(formatFailure(reason, 'why')).reason).toBe(reason);
    }
  });

  it('treats anything unknown as an upstream failure', () => {
    expect(parseFailure('job stalled more than allowable limit').reason).toBe(
      'upstream_unavailable',
    );
  });
});
