import { parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['45', 45],
    ['45s', 45],
    ['90m', 5400],
    ['12h', 43_200],
    ['30d', 2_592_000],
    ['2W', 1_209_600],
    [' 1.5h ', 5400],
  ])('%j is %d s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', 'd', '-1d', '1y', '30 days', '1,5h', '1e3'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});
