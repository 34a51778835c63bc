import { contentTypeFor } from './content-type';

describe('contentTypeFor', () => {
  it('uses the extension when the upstream says nothing specific', () => {
    expect(contentTypeFor('almalinux/9/x86_64/bash-5.1.8.x86_64.rpm')).toBe('application/x-rpm');
    expect(contentTypeFor('repo/repodata/primary.xml', 'application/octet-stream')).toBe(
      'application/xml',
    );
    expect(contentTypeFor('x/unknown.bin')).toBe('application/octet-stream');
  });

  it("prefers the upstream's specific type", () => {
    expect(contentTypeFor('a/b.xml', 'text/xml; charset=utf-8')).toBe('text/xml; charset=utf-8');
  });
});
