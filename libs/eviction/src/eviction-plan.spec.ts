import { type EvictionCandidate, bytesToFree, isUnused, leastRecentlyUsed } from './eviction-plan';

const MiB = 1024 ** 2;

function candidate(id: string, size: number): EvictionCandidate & { id: string } {
  return { id, size, lastUsed: new Date('2026-12-01T00:00:00Z') };
}

describe('bytesToFree', () => {
  it.each([
    // used, cap, to free
    [0, null, 0],
    [100 * MiB, null, 0],
    [90 * MiB, 100 * MiB, 0],
    [100 * MiB, 100 * MiB, 0],
    [101 * MiB, 100 * MiB, 11 * MiB],
    [150 * MiB, 100 * MiB, 60 * MiB],
    [3, 2, 2],
  ])('%d bytes used under a cap of %j: free %d', (used, cap, free) => {
    expect(bytesToFree(used, cap)).toBe(free);
  });
});

describe('leastRecentlyUsed', () => {
  const files = [candidate('a', 4), candidate('b', 3), candidate('c', 2), candidate('d', 1)];
  it.each([
    [0, []],
    [1, ['a']],
    [4, ['a']],
    [5, ['a', 'b']],
    [7, ['a', 'b']],
    [8, ['a', 'b', 'c']],
    [100, ['a', 'b', 'c', 'd']],
  ])('to free %d bytes takes %j', (bytes, ids) => {
    expect(leastRecentlyUsed(files, bytes).map((file) => file.id)).toEqual(ids);
  });
});

describe('isUnused', () => {
  const now = new Date('2026-12-02T00:00:00Z');
  it.each([
    ['2026-12-01T00:00:00Z', null, false],
    ['2026-12-01T00:00:00Z', 86_400, true],
    ['2026-12-01T00:00:01Z', 86_400, false],
    ['2026-11-01T00:00:00Z', 30 * 86_400, true],
    ['2026-12-01T23:59:59Z', 1, true],
  ])('last used %s, evicted after %j s: %s', (lastUsed, after, unused) => {
    expect(isUnused({ size: 1, lastUsed: new Date(lastUsed) }, after, now)).toBe(unused);
  });
});
