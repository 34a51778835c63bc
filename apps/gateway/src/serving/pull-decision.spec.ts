import {
  type Lookup,
  type LookupDecision,
  type MissDecision,
  type MissFacts,
  type Revalidation,
  type RevalidationDecision,
  decideLookup,
  decideMiss,
  decideRevalidated,
} from './pull-decision';

describe('decideLookup', () => {
  it.each<[Lookup, LookupDecision]>([
    [{ pathClass: 'immutable', offline: false, stored: true, freshness: null }, { next: 'hit' }],
    [{ pathClass: 'immutable', offline: false, stored: false, freshness: null }, { next: 'miss' }],
    [{ pathClass: 'mutable', offline: false, stored: true, freshness: 'fresh' }, { next: 'hit' }],
    [
      { pathClass: 'mutable', offline: false, stored: true, freshness: 'expired' },
      { next: 'revalidate' },
    ],
    [
      { pathClass: 'mutable', offline: false, stored: true, freshness: 'unknown' },
      { next: 'stale', reason: 'redis_unavailable' },
    ],
    // the last revalidation could not confirm the copy: stale, with its reason, until one does
    [
      {
        pathClass: 'mutable',
        offline: false,
        stored: true,
        freshness: { unconfirmed: 'unreachable' },
      },
      { next: 'stale', reason: 'unreachable' },
    ],
    [
      {
        pathClass: 'mutable',
        offline: true,
        stored: true,
        freshness: { unconfirmed: 'throttled' },
      },
      { next: 'stale', reason: 'throttled' },
    ],
    [
      {
        pathClass: 'mutable',
        offline: false,
        stored: false,
        freshness: { unconfirmed: 'unreachable' },
      },
      { next: 'miss' },
    ],
    // nothing stored: a miss whatever Redis says (a TTL marker can outlive a flushed object)
    [{ pathClass: 'mutable', offline: false, stored: false, freshness: 'fresh' }, { next: 'miss' }],
    [
      { pathClass: 'mutable', offline: false, stored: false, freshness: 'expired' },
      { next: 'miss' },
    ],
    [
      { pathClass: 'mutable', offline: false, stored: false, freshness: 'unknown' },
      { next: 'miss' },
    ],
    // offline: what is held is served, an expired copy as stale, without asking the upstream
    [{ pathClass: 'immutable', offline: true, stored: true, freshness: null }, { next: 'hit' }],
    [{ pathClass: 'mutable', offline: true, stored: true, freshness: 'fresh' }, { next: 'hit' }],
    [
      { pathClass: 'mutable', offline: true, stored: true, freshness: 'expired' },
      { next: 'stale', reason: 'offline' },
    ],
    [
      { pathClass: 'mutable', offline: true, stored: true, freshness: 'unknown' },
      { next: 'stale', reason: 'redis_unavailable' },
    ],
    [
      { pathClass: 'mutable', offline: true, stored: false, freshness: 'expired' },
      { next: 'miss' },
    ],
  ])('%j → %j', (lookup, decision) => {
    expect(decideLookup(lookup)).toEqual(decision);
  });
});

describe('decideMiss', () => {
  it.each<[MissFacts['method'], MissFacts['headMiss'], boolean, MissDecision]>([
    ['GET', 'upstream_head', false, 'fetch'],
    ['GET', 'upstream_head', true, 'not_found'],
    ['GET', 'fetch', false, 'fetch'],
    ['GET', 'fetch', true, 'not_found'],
    // a file's HEAD asks the upstream itself, so a remembered 404 does not answer it
    ['HEAD', 'upstream_head', false, 'head_upstream'],
    ['HEAD', 'upstream_head', true, 'head_upstream'],
    // a docker manifest's HEAD is fetched and cached like its GET
    ['HEAD', 'fetch', false, 'fetch'],
    ['HEAD', 'fetch', true, 'not_found'],
  ])('%s with head_miss %s, known missing %s → %s', async (method, headMiss, known, decision) => {
    await expect(
      decideMiss({ method, offline: false, headMiss, knownMissing: () => known }),
    ).resolves.toBe(decision);
  });

  it.each<[MissFacts['method'], MissFacts['headMiss']]>([
    ['GET', 'upstream_head'],
    ['GET', 'fetch'],
    ['HEAD', 'upstream_head'],
    ['HEAD', 'fetch'],
  ])('an offline remote answers a %s miss (head_miss %s) itself', async (method, headMiss) => {
    await expect(
      decideMiss({ method, offline: true, headMiss, knownMissing: () => false }),
    ).resolves.toBe('offline');
  });

  it('does not consult the negative cache for an upstream HEAD', async () => {
    const knownMissing = jest.fn(() => true);
    await decideMiss({ method: 'HEAD', offline: false, headMiss: 'upstream_head', knownMissing });
    expect(knownMissing).not.toHaveBeenCalled();
  });
});

describe('decideRevalidated', () => {
  it.each<[Revalidation, RevalidationDecision]>([
    [{ outcome: 'unchanged' }, { next: 'hit' }],
    [{ outcome: 'stored' }, { next: 'changed' }],
    [
      { outcome: 'stale', reason: 'unreachable' },
      { next: 'stale', reason: 'unreachable' },
    ],
    [
      { outcome: 'stale', reason: 'upstream_missing' },
      { next: 'stale', reason: 'upstream_missing' },
    ],
    [
      { outcome: 'failed', failure: 'unavailable' },
      { next: 'stale', reason: 'revalidation_failed' },
    ],
    [{ outcome: 'failed', failure: 'not_found' }, { next: 'fail' }],
    [{ outcome: 'failed', failure: 'unexpected' }, { next: 'fail' }],
  ])('%j → %j', (revalidation, decision) => {
    expect(decideRevalidated(revalidation)).toEqual(decision);
  });
});
