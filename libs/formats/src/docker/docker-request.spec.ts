import { parseRegistryRequest, splitImageReference, splitRegistryPath } from './docker-request';

const HEX = 'a'.repeat(64);

describe('splitRegistryPath', () => {
  it('finds the operation at the end of nested names', () => {
    expect(splitRegistryPath('hub/library/alpine/manifests/3.20')).toEqual({
      segments: ['hub', 'library', 'alpine'],
      operation: ['manifests', '3.20'],
    });
    expect(splitRegistryPath(`hub/a/blobs/sha256:${HEX}`).operation).toEqual([
      'blobs',
      `sha256:${HEX}`,
    ]);
    expect(splitRegistryPath('hub/a/b/tags/list').segments).toEqual(['hub', 'a', 'b']);
  });

  it('an image may itself be called manifests or blobs', () => {
    expect(splitRegistryPath('hub/manifests/manifests/latest').segments).toEqual([
      'hub',
      'manifests',
    ]);
  });

  it('refuses anything else', () => {
    expect(() => splitRegistryPath('hub/a/uploads/x')).toThrow(/unknown registry API path/);
    expect(() => splitRegistryPath('hub/a/tags/list/')).toThrow(/unknown registry API path/);
  });
});

describe('parseRegistryRequest', () => {
  it('parses tags and digests', () => {
    expect(parseRegistryRequest(['library', 'alpine'], ['manifests', 'latest'], '')).toEqual({
      kind: 'manifest',
      image: 'library/alpine',
      reference: { type: 'tag', tag: 'latest' },
    });
    expect(parseRegistryRequest(['a'], ['manifests', `sha256:${HEX}`], '')).toMatchObject({
      reference: { type: 'digest', hex: HEX },
    });
    expect(parseRegistryRequest(['a'], ['blobs', `sha256%3A${HEX}`], '')).toMatchObject({
      digest: HEX,
    });
  });

  it('keeps only n and last of a tag list query', () => {
    expect(parseRegistryRequest(['a'], ['tags', 'list'], 'last=v1&n=10&x=1')).toEqual({
      kind: 'tags',
      image: 'a',
      query: 'n=10&last=v1',
    });
  });

  it.each([
    [['Upper'], ['manifests', 'latest'], 'NAME_INVALID'],
    [['a..b'], ['manifests', 'latest'], 'NAME_INVALID'],
    [['a'], ['manifests', '-bad'], 'MANIFEST_INVALID'],
    [['a'], ['blobs', 'sha256:xyz'], 'DIGEST_INVALID'],
    [['a'], ['blobs', `sha512:${HEX}`], 'DIGEST_INVALID'],
    [['a'], ['manifests', 'sha256:123'], 'DIGEST_INVALID'],
    // decoded once only: a double-encoded ':' is not a digest
    [['a'], ['blobs', `sha256%253A${HEX}`], 'DIGEST_INVALID'],
    [['a'], ['manifests', '%2576%2531'], 'MANIFEST_INVALID'],
  ])('refuses %j %j with %s', (segments, operation, code) => {
    expect(() => parseRegistryRequest(segments, operation, '')).toThrow(
      expect.objectContaining({ detail: expect.objectContaining({ registryCode: code }) }),
    );
  });
});

describe('splitImageReference', () => {
  it.each([
    ['library/alpine', 'library/alpine', null],
    ['library/alpine:3.19', 'library/alpine', '3.19'],
    ['alpine@sha256:abc', 'alpine', 'sha256:abc'],
    ['team/app:1.0@sha256:abc', 'team/app:1.0', 'sha256:abc'],
    ['localhost:5000/app', 'localhost:5000/app', null],
    ['localhost:5000/app:v2', 'localhost:5000/app', 'v2'],
  ])('%s', (text, image, reference) => {
    expect(splitImageReference(text)).toEqual({ image, reference });
  });
});
