/**
 * What an eviction pass removes, as pure functions (docs/STORAGE.md): EvictionService reads the
 * records from Postgres, least recently used first, and removes what these pick.
 */

/** One cached file as eviction sees it: its size and its last use (last hit, or its fetch). */
export interface EvictionCandidate {
  size: number;
  lastUsed: Date;
}

export type EvictionReason = 'size' | 'unused';

/** A pass stops removing for a cap once usage is at or under this share of it. */
const LOW_WATER = 0.9;

/** The bytes to free for a cap: none while under it, else down to the low-water mark. */
export function bytesToFree(usedBytes: number, capBytes: number | null): number {
  if (capBytes === null || usedBytes <= capBytes) {
    return 0;
  }
  return usedBytes - Math.floor(capBytes * LOW_WATER);
}

/**
 * From candidates in least-recently-used order, the first ones whose sizes add up to at least
 * `bytes` (all of them when they do not).
 */
export function leastRecentlyUsed<T extends EvictionCandidate>(
  candidates: readonly T[],
  bytes: number,
): T[] {
  const picked: T[] = [];
  let freed = 0;
  for (const candidate of candidates) {
    if (freed >= bytes) {
      break;
    }
    picked.push(candidate);
    freed += candidate.size;
  }
  return picked;
}

/** Whether a file unused for `afterSeconds` (null: never) is due at `now`. */
export function isUnused(
  candidate: EvictionCandidate,
  afterSeconds: number | null,
  now: Date,
): boolean {
  return (
    afterSeconds !== null && now.getTime() - candidate.lastUsed.getTime() >= afterSeconds * 1000
  );
}
