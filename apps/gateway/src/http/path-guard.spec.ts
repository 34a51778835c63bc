import { cleanPath, splitRemotePath } from './path-guard';

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
  ])('refuses %s', (raw) => {
    expect(() => cleanPath(raw)).toThrow(expect.objectContaining({ code: 'bad_path' }));
  });

  it('allows exactly 1024 bytes', () => {
    expect(cleanPath('a'.repeat(1024))).toHaveLength(1024);
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
});
