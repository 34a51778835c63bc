import { artifactHeaders, contentDisposition, notModified } from './artifact-headers';

const artifact = {
  path: 'some/path/archive.tar.gz',
  size: 27,
  sha256: 'ab'.repeat(32),
  contentType: 'application/gzip',
  lastModified: new Date('2026-01-02T03:04:05Z'),
};

describe('artifactHeaders', () => {
  it('describes a whole cached file', () => {
    expect(artifactHeaders(artifact, 'cache')).toEqual({
      'content-type': 'application/gzip',
      'content-disposition': 'attachment; filename="archive.tar.gz"',
      'x-artifact-source': 'cache',
      'accept-ranges': 'bytes',
      'x-artifact-size': '27',
      'content-length': '27',
      etag: `"${'ab'.repeat(32)}"`,
      'x-checksum-sha256': 'ab'.repeat(32),
      'last-modified': 'Fri, 02 Jan 2026 03:04:05 GMT',
    });
  });

  it('gives the whole size and the range on a 206', () => {
    const headers = artifactHeaders(artifact, 'cache', { start: 5, end: 9 });
    expect(headers['x-artifact-size']).toBe('27');
    expect(headers['content-length']).toBe('5');
    expect(headers['content-range']).toBe('bytes 5-9/27');
  });

  it('leaves out what a streaming miss does not know yet', () => {
    const headers = artifactHeaders({ ...artifact, size: null, sha256: null }, 'remote');
    expect(headers).not.toHaveProperty('content-length');
    expect(headers).not.toHaveProperty('etag');
    expect(headers).not.toHaveProperty('x-checksum-sha256');
  });
});

describe('contentDisposition', () => {
  it('escapes quotes and encodes non-ASCII names', () => {
    expect(contentDisposition('a"b.txt')).toBe(
      `attachment; filename="a_b.txt"; filename*=UTF-8''a%22b.txt`,
    );
    expect(contentDisposition('é.txt')).toBe(
      `attachment; filename="_.txt"; filename*=UTF-8''%C3%A9.txt`,
    );
  });
});

describe('notModified', () => {
  const etag = '"abc"';
  const modified = new Date('2026-01-02T03:04:05Z');
  it('matches If-None-Match lists, weak tags and *', () => {
    expect(notModified(etag, modified, '"x", W/"abc"', undefined)).toBe(true);
    expect(notModified(etag, modified, '*', undefined)).toBe(true);
    expect(notModified(etag, modified, '"x"', undefined)).toBe(false);
  });

  it('falls back to If-Modified-Since only without If-None-Match', () => {
    expect(notModified(etag, modified, undefined, modified.toUTCString())).toBe(true);
    expect(notModified(etag, modified, undefined, 'Thu, 01 Jan 2026 00:00:00 GMT')).toBe(false);
    expect(notModified(etag, modified, '"x"', modified.toUTCString())).toBe(false);
  });
});
