import { parseByteSize } from './byte-size';

describe('parseByteSize', () => {
  it.each([
    ['0', 0],
    ['4096', 4096],
    ['4096B', 4096],
    ['512KiB', 512 * 1024],
    ['512k', 512 * 1024],
    ['256MiB', 256 * 1024 ** 2],
    ['256 mib', 256 * 1024 ** 2],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['50GB', 50 * 1000 ** 3],
    ['2TiB', 2 * 1024 ** 4],
    [' 8M ', 8 * 1024 ** 2],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['', 'MiB', '-1', '1e9', '12 parsecs', '1,5GiB', '0x10', '99999999999TiB'])(
    '%j is not a size',
    (text) => {
      expect(parseByteSize(text)).toBeNull();
    },
  );
});
