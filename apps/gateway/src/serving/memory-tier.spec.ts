import type { ObjectInfo } from '@app/storage';
import { MemoryTier, type MemoryTierLimits } from './memory-tier';

const LIMITS: MemoryTierLimits = { maxBytes: 100, maxObjectBytes: 40, maxAgeMs: 1000 };

function info(key: string, size: number): ObjectInfo {
  return { key, size, sha256: 'a'.repeat(64), contentType: null, storedAt: new Date(0) };
}

function filled(keys: Array<[string, number]>, limits = LIMITS): MemoryTier {
  const tier = new MemoryTier(limits);
  for (const [key, size] of keys) {
    tier.put(key, info(key, size), Buffer.alloc(size), tier.currentGeneration, 0);
  }
  return tier;
}

function held(tier: MemoryTier, keys: string[], now = 0): string[] {
  return keys.filter((key) => tier.get(key, now) !== undefined);
}

describe('MemoryTier', () => {
  it('returns what was put, byte for byte', () => {
    const tier = new MemoryTier(LIMITS);
    const body = Buffer.from('hello');
    expect(tier.put('r/a', info('r/a', 5), body, tier.currentGeneration, 0)).toBe(true);
    expect(tier.get('r/a', 10)?.body.equals(body)).toBe(true);
    expect([tier.count, tier.bytes]).toEqual([1, 5]);
  });

  it.each([
    // [sizes put in order, keys read in between, keys still held]
    {
      put: [
        ['a', 40],
        ['b', 40],
        ['c', 40],
      ],
      touch: [],
      kept: ['b', 'c'],
    },
    {
      put: [
        ['a', 40],
        ['b', 40],
      ],
      touch: ['a'],
      then: [['c', 40]],
      kept: ['a', 'c'],
    },
    {
      put: [
        ['a', 10],
        ['b', 10],
        ['c', 40],
        ['d', 40],
      ],
      touch: [],
      then: [['e', 20]],
      kept: ['c', 'd', 'e'],
    },
    {
      put: [
        ['a', 30],
        ['a', 20],
      ],
      touch: [],
      kept: ['a'],
    },
  ] as Array<{
    put: Array<[string, number]>;
    touch: string[];
    then?: Array<[string, number]>;
    kept: string[];
  }>)(
    'evicts the least recently used first: $put, read $touch, then $then → $kept',
    ({ put, touch, then = [], kept }) => {
      const tier = filled(put);
      touch.forEach((key) => tier.get(key, 0));
      for (const [key, size] of then) {
        tier.put(key, info(key, size), Buffer.alloc(size), tier.currentGeneration, 0);
      }
      expect(held(tier, ['a', 'b', 'c', 'd', 'e'])).toEqual(kept);
      expect(tier.bytes).toBeLessThanOrEqual(LIMITS.maxBytes);
    },
  );

  it.each([
    { size: 41, limits: LIMITS, accepted: false },
    { size: 40, limits: LIMITS, accepted: true },
    { size: 1, limits: { ...LIMITS, maxBytes: 0 }, accepted: false },
    { size: 0, limits: { ...LIMITS, maxBytes: 0 }, accepted: true },
  ])('an object of $size bytes is held: $accepted', ({ size, limits, accepted }) => {
    const tier = new MemoryTier(limits);
    expect(tier.accepts(size)).toBe(accepted);
    expect(tier.put('k', info('k', size), Buffer.alloc(size), tier.currentGeneration, 0)).toBe(
      accepted,
    );
  });

  it('drops an entry older than maxAgeMs when it is next asked for', () => {
    const tier = filled([['a', 10]]);
    expect(tier.get('a', 1000)).toBeDefined();
    expect(tier.get('a', 1001)).toBeUndefined();
    expect([tier.count, tier.bytes]).toEqual([0, 0]);
  });

  it.each([
    { prefix: 'r1/', kept: ['r2/a'] },
    { prefix: 'r1/x', kept: ['r1/a', 'r2/a'] },
    { prefix: '', kept: [] },
  ])('forget($prefix) drops the keys under it', ({ prefix, kept }) => {
    const tier = filled([
      ['r1/a', 10],
      ['r1/x/b', 10],
      ['r2/a', 10],
    ]);
    tier.forget(prefix);
    expect(held(tier, ['r1/a', 'r1/x/b', 'r2/a'])).toEqual(kept);
  });

  it('forgetKeys drops exactly those keys, and a fill that began before it', () => {
    const tier = filled([
      ['r1/a', 10],
      ['r1/a2', 10],
      ['r1/x/b', 10],
    ]);
    const generation = tier.currentGeneration;
    expect(tier.forgetKeys(['r1/a', 'r1/x/b', 'r9/none'])).toBe(2);
    expect(held(tier, ['r1/a', 'r1/a2', 'r1/x/b'])).toEqual(['r1/a2']);
    expect(tier.bytes).toBe(10);
    expect(tier.put('r1/a', info('r1/a', 3), Buffer.alloc(3), generation, 0)).toBe(false);
  });

  it('refuses a fill that began before a forget (a read racing a flush)', () => {
    const tier = new MemoryTier(LIMITS);
    const generation = tier.currentGeneration;
    tier.forget('r/');
    expect(tier.put('r/a', info('r/a', 3), Buffer.alloc(3), generation, 0)).toBe(false);
    expect(tier.put('r/a', info('r/a', 3), Buffer.alloc(3), tier.currentGeneration, 0)).toBe(true);
  });
});
