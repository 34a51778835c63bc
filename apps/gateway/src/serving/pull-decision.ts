/**
 * The pull-through decisions of docs/CACHING.md, as pure functions: PullThroughService gathers
 * the facts (storage, Redis, the fetch's outcome) and does what these say. Wherever a decision
 * says to serve the copy we hold, the copy may be gone by the time it is read (a concurrent
 * flush): then the request is a miss.
 */

/**
 * Whether a mutable file's TTL marker is set; `unknown` when Redis did not answer; `unconfirmed`
 * when it is set because the upstream could not confirm the copy (with the reason why).
 */
export type Freshness = 'fresh' | 'expired' | 'unknown' | { unconfirmed: string };

export interface Lookup {
  pathClass: 'immutable' | 'mutable';
  /** an offline remote serves what it holds and asks its upstream nothing */
  offline: boolean;
  /** a copy is in storage */
  stored: boolean;
  /** asked of mutable files only; immutable files never expire */
  freshness: Freshness | null;
}

export type LookupDecision =
  /** serve the copy, counted as a hit */
  | { next: 'hit' }
  /** fetch it (one job for every request of it, on every replica) */
  | { next: 'miss' }
  /** ask the upstream whether the expired copy changed */
  | { next: 'revalidate' }
  /**
   * serve the copy marked stale: its freshness cannot be checked, its upstream not asked, or its
   * last revalidation could not confirm it (that reason)
   */
  | { next: 'stale'; reason: string };

export function decideLookup({ pathClass, offline, stored, freshness }: Lookup): LookupDecision {
  if (!stored) {
    return { next: 'miss' };
  }
  if (pathClass === 'immutable' || freshness === 'fresh') {
    return { next: 'hit' };
  }
  if (freshness === 'unknown') {
    return { next: 'stale', reason: 'redis_unavailable' };
  }
  if (typeof freshness === 'object' && freshness !== null) {
    return { next: 'stale', reason: freshness.unconfirmed };
  }
  return offline ? { next: 'stale', reason: 'offline' } : { next: 'revalidate' };
}

export interface MissFacts {
  method: 'GET' | 'HEAD';
  offline: boolean;
  /** how the route answers a HEAD of a miss: an upstream HEAD, or a fetch like a GET */
  headMiss: 'upstream_head' | 'fetch';
  /** the negative cache holds an upstream 404 for this path; not asked when no fetch follows */
  knownMissing: () => boolean | Promise<boolean>;
}

export type MissDecision = 'offline' | 'head_upstream' | 'not_found' | 'fetch';

/**
 * An offline remote fetches nothing. A HEAD of a file answers from the upstream's HEAD, uncached;
 * a remembered 404 stays a 404.
 */
export async function decideMiss({
  method,
  offline,
  headMiss,
  knownMissing,
}: MissFacts): Promise<MissDecision> {
  if (offline) {
    return 'offline';
  }
  if (method === 'HEAD' && headMiss === 'upstream_head') {
    return 'head_upstream';
  }
  return (await knownMissing()) ? 'not_found' : 'fetch';
}

/** How a revalidation ended, as far as the request is concerned. */
export type Revalidation =
  | { outcome: 'unchanged' }
  | { outcome: 'stored' }
  | { outcome: 'stale'; reason: string }
  /** `not_found`: the upstream's 404; `unavailable`: the queue or the fetch failed; `unexpected`: a bug */
  | { outcome: 'failed'; failure: 'not_found' | 'unavailable' | 'unexpected' };

export type RevalidationDecision =
  /** the copy is current: serve it, counted as a hit */
  | { next: 'hit' }
  /** a new copy was stored: serve it from the upstream's side, counted as a miss */
  | { next: 'changed' }
  /** the upstream could not confirm the copy: serve it marked stale */
  | { next: 'stale'; reason: string }
  /** the failure is the answer */
  | { next: 'fail' };

export function decideRevalidated(revalidation: Revalidation): RevalidationDecision {
  switch (revalidation.outcome) {
    case 'unchanged':
      return { next: 'hit' };
    case 'stored':
      return { next: 'changed' };
    case 'stale':
      return { next: 'stale', reason: revalidation.reason };
    case 'failed':
      // The copy we hold is still the best answer when the machinery failed, not when the
      // upstream said the file is gone (a 404 with upstream_missing: not_found).
      return revalidation.failure === 'unavailable'
        ? { next: 'stale', reason: 'revalidation_failed' }
        : { next: 'fail' };
  }
}
