import { DEFAULT_WEIGHTS, pickOperation } from './workload';

describe('pickOperation', () => {
  const weights = {
    ...DEFAULT_WEIGHTS,
    hit: 1,
    index: 1,
    new: 2,
    missing: 0,
    upload: 0,
    'upload-read': 0,
    'upload-conflict': 0,
    'upload-delete': 0,
    'deleted-read': 1,
  };

  it.each<[number, string]>([
    [0, 'hit'],
    [0.19, 'hit'],
    [0.2, 'index'],
    [0.39, 'index'],
    [0.4, 'new'],
    [0.79, 'new'],
    [0.8, 'deleted-read'],
    [0.999, 'deleted-read'],
  ])('r = %d → %s (weights 1, 1, 2, 0..., 1)', (r, op) => {
    expect(pickOperation(weights, r)).toBe(op);
  });

  it('never picks an operation of weight 0', () => {
    const seen = new Set(Array.from({ length: 1000 }, (_, i) => pickOperation(weights, i / 1000)));
    expect([...seen].sort()).toEqual(['deleted-read', 'hit', 'index', 'new']);
  });
});
