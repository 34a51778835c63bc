import { manifestReferences, referencedDigests } from './manifest-references';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('manifestReferences', () => {
  it.each([
    ['an OCI index', { manifests: [{ digest: d('a') }, { digest: d('b') }] }, [d('a'), d('b')], []],
    [
      'an image manifest',
      { config: { digest: d('c') }, layers: [{ digest: d('1') }, { digest: d('2') }] },
      [],
      [d('c'), d('1'), d('2')],
    ],
    [
      'a layer listed twice, and the config as a layer',
      {
        config: { digest: d('c') },
        layers: [{ digest: d('1') }, { digest: d('1') }, { digest: d('c') }],
      },
      [],
      [d('c'), d('1')],
    ],
    [
      'a foreign layer (urls) and digests the cache cannot verify',
      {
        config: { digest: 'sha512:abc' },
        layers: [
          { digest: d('1'), urls: ['https://cdn.example.org/l'] },
          { digest: 'sha256:short' },
          {},
        ],
      },
      [],
      [],
    ],
    ['not a manifest', 'hello', [], []],
    ['null', null, [], []],
    ['fields of the wrong type', { manifests: 'x', layers: { digest: d('1') } }, [], []],
  ])('%s', (_what, document, manifests, blobs) => {
    expect(manifestReferences(document)).toEqual({ manifests, blobs });
  });
});

describe('referencedDigests', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  it.each([
    ['an index: its manifests', json({ manifests: [{ digest: d('a') }] }), ['a'.repeat(64)]],
    [
      'a manifest: config then layers',
      json({ config: { digest: d('c') }, layers: [{ digest: d('1') }] }),
      ['c'.repeat(64), '1'.repeat(64)],
    ],
    ['bytes that are not JSON', Buffer.from('\x00not json'), []],
    ['JSON that is not a manifest', json([1, 2]), []],
  ])('%s', (_what, bytes, expected) => {
    expect(referencedDigests(bytes)).toEqual(expected);
  });
});
