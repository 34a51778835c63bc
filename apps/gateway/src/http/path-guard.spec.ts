import {
  cleanDirectoryPath,
  cleanPath,
  hidesEncodedSeparator,
  splitRemotePath,
} from './path-guard';

describe('cleanPath', () => {
  it('decodes a normal path', () => {
    expect(cleanPath('alpine/v3.18/main/x86_64/APKINDEX.tar.gz')).toBe(
      'alpine/v3.18/main/x86_64/APKINDEX.tar.gz',
    );
    expect(cleanPath('pool/main/f/foo/foo_1%3a2.0_amd64.deb')).toBe(
      'pool/main/f/foo/foo_1:2.0_amd64.deb',
    );
  });

  it.each([
    ['../etc/passwd'],
    ['a/../../b'],
    ['a/%2e%2e/b'],
    ['a/%2E%2E/b'],
    ['a/.%2e/b'],
    ['a/./b'],
    ['a/%2fb'],
    ['..%2fb'],
    ['a%5cb'],
    ['a\\b'],
    ['a/%00b'],
    ['/etc/passwd'],
    ['a//b'],
    ['a/%zz'],
    [''],
    ['a'.repeat(1025)],
    ['%61'.repeat(1025)],
    // double encodings: one decode leaves %2e, %2f, %5c or %00 for a later decode to reveal
    ['%252e%252e/files/x'],
    ['a/%252E%252e/b'],
    ['a/.%252e/b'],
    ['a/%252e/b'],
    ['a%252fb'],
    ['a%252Fb'],
    ['..%252f..%252fetc'],
    ['a%255cb'],
    ['a%255Cb'],
    ['a%2500b'],
    ['file.tar%252egz'],
    // triple and mixed encodings
    ['%25252e%25252e/x'],
    ['a%25252fb'],
    ['a/%25%32%65%25%32%65/b'],
    ['a/%2525%32%65/b'],
    // what no storage key can hold
    ['a/'],
    ['a/b//'],
    ['.staging/x'],
    ['a/.staging-1234/x'],
    ['a/%2estaging'],
    ['a\ud800b'],
    ['\udfff'],
  ])('refuses %s', (raw) => {
    expect(() => cleanPath(raw)).toThrow(expect.objectContaining({ code: 'bad_path' }));
  });

  it('keeps names that only look alike', () => {
    expect(cleanPath('a/..b/c..')).toBe('a/..b/c..');
    expect(cleanPath('a/staging/x.staging')).toBe('a/staging/x.staging');
    expect(cleanPath('c%252b%252b/x')).toBe('c%2b%2b/x');
    expect(cleanPath('%F0%9F%98%80/%C3%A9')).toBe('\u{1F600}/\u00e9');
  });

  it('allows exactly 1024 bytes', () => {
    expect(cleanPath('a'.repeat(1024))).toHaveLength(1024);
  });
});

describe('cleanDirectoryPath', () => {
  it.each([
    ['', ''],
    ['a/b/', 'a/b/'],
    ['a/b', 'a/b'],
  ])('%s → %s', (raw, expected) => {
    expect(cleanDirectoryPath(raw)).toBe(expected);
  });

  it.each([['a//'], ['%252e%252e/'], ['/']])('refuses %s', (raw) => {
    expect(() => cleanDirectoryPath(raw)).toThrow(expect.objectContaining({ code: 'bad_path' }));
  });
});

describe('hidesEncodedSeparator', () => {
  it.each([
    ['%2e', true],
    ['%2E%2e', true],
    ['a%2fb', true],
    ['a%5Cb', true],
    ['a%00', true],
    ['%252e', true],
    ['%25252F', true],
    ['%25%32%65', true],
    ['%%32%65', true],
    ['a.b/c', false],
    ['100%', false],
    ['%2b%41', false],
    ['%252b', false],
    ['%zz%2', false],
  ])('%s → %s', (decoded, expected) => {
    expect(hidesEncodedSeparator(decoded)).toBe(expected);
  });
});

describe('splitRemotePath', () => {
  it('splits remote, raw path and query', () => {
    expect(splitRemotePath('/api/v1/remote/alpine/a/%2e%2e/b?x=1', '/api/v1/remote/')).toEqual({
      remote: 'alpine',
      rawPath: 'a/%2e%2e/b',
      query: 'x=1',
    });
  });

  it('decodes the remote name once', () => {
    expect(splitRemotePath('/api/v1/remote/hosted%2dfiles/a', '/api/v1/remote/').remote).toBe(
      'hosted-files',
    );
    expect(splitRemotePath('/api/v1/remote/hosted/', '/api/v1/remote/')).toMatchObject({
      remote: 'hosted',
      rawPath: '',
    });
  });

  it.each([
    ['%2e%2e'],
    ['%2E'],
    ['%252e%252e'],
    ['local%252fx'],
    ['local%2fx'],
    ['local%5cx'],
    ['local%255cx'],
    ['local%00'],
    ['local%2500'],
    ['local%0a'],
    ['%zz'],
    ['%25252e'],
  ])('refuses the remote name %s', (remote) => {
    expect(() => splitRemotePath(`/api/v1/remote/${remote}/a`, '/api/v1/remote/')).toThrow(
      expect.objectContaining({ code: 'bad_path' }),
    );
  });
});
