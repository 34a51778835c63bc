import { resolveRange } from './byte-range';

describe('resolveRange', () => {
  it('resolves first-last, open-ended and suffix ranges', () => {
    expect(resolveRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(resolveRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(resolveRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
    expect(resolveRange('bytes=990-2000', 1000)).toEqual({ start: 990, end: 999 });
  });

  it('ignores absent, malformed and multi-range headers', () => {
    expect(resolveRange(undefined, 10)).toBeNull();
    expect(resolveRange('items=0-1', 10)).toBeNull();
    expect(resolveRange('bytes=0-1,5-6', 10)).toBeNull();
    expect(resolveRange('bytes=5-1', 10)).toBeNull();
  });

  it('refuses ranges that start past the end', () => {
    expect(() => resolveRange('bytes=1000-', 1000)).toThrow(
      expect.objectContaining({ code: 'range_not_satisfiable' }),
    );
    expect(() => resolveRange('bytes=-0', 1000)).toThrow(
      expect.objectContaining({ code: 'range_not_satisfiable' }),
    );
  });
});
