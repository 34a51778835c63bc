import { sameOrigin, upstreamUrl } from './upstream-url';

describe('upstreamUrl', () => {
  it('joins base_url and the path, encoding each segment', () => {
    expect(
      upstreamUrl('https://mirror.example.org/alpine', 'v3.18/main/x86_64/APKINDEX.tar.gz').href,
    ).toBe('https://mirror.example.org/alpine/v3.18/main/x86_64/APKINDEX.tar.gz');
    expect(
      upstreamUrl('https://mirror.example.org/debian', 'pool/main/f/foo/foo_1:2.0+b1_amd64.deb')
        .href,
    ).toBe('https://mirror.example.org/debian/pool/main/f/foo/foo_1:2.0%2Bb1_amd64.deb');
  });

  it('keeps digests literal', () => {
    expect(
      upstreamUrl('https://r.example.org', `v2/a/blobs/sha256:${'a'.repeat(64)}`).pathname,
    ).toBe(`/v2/a/blobs/sha256:${'a'.repeat(64)}`);
  });

  it('never leaves the base URL', () => {
    expect(upstreamUrl('https://mirror.example.org/x', '@evil.example/y').origin).toBe(
      'https://mirror.example.org',
    );
    expect(upstreamUrl('https://mirror.example.org/x', '..%2fy').pathname).toBe('/x/..%252fy');
    expect(() => upstreamUrl('https://mirror.example.org/x', '../y')).toThrow(/does not stay/);
  });

  it('passes a query string through', () => {
    expect(upstreamUrl('https://r.example.org', 'v2/a/tags/list', 'n=10').search).toBe('?n=10');
  });
});

describe('sameOrigin', () => {
  it('compares scheme, host and port', () => {
    expect(sameOrigin('https://a.example/x', 'https://a.example/y')).toBe(true);
    expect(sameOrigin('https://a.example/x', 'https://cdn.example/y')).toBe(false);
    expect(sameOrigin('https://a.example/x', 'http://a.example/x')).toBe(false);
  });
});
