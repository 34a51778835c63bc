import { type ProxyRemoteConfig, buildAppConfig } from '@app/config';
import { refusalOf } from '../refusal';
import { fetchTargetOf } from '../fetch-target';
import { npmRawPath, packumentFormOf } from './npm-paths';
import { presentPackument, rewritePackument } from './packument';

const SHA512 = 'ab'.repeat(64);
const SHA1 = 'cd'.repeat(20);
const remotes = buildAppConfig({
  remotes: {
    npm: { package: 'npm', base_url: 'https://npm.example.org/registry' },
    only: { package: 'npm', base_url: 'https://npm.example.org', include_patterns: ['@acme/.*'] },
  },
}).remotes;
const npm = remotes.npm as ProxyRemoteConfig;

describe('npm paths', () => {
  it.each([
    ['@acme%2fleft-pad', '@acme/left-pad'],
    ['@acme%2Fleft-pad/-/left-pad-1.0.0.tgz', '@acme/left-pad/-/left-pad-1.0.0.tgz'],
    ['left-pad', 'left-pad'],
    ['left-pad%2fmore', 'left-pad%2fmore'],
  ])('the raw path %s is read as %s', (raw, read) => {
    expect(npmRawPath(raw)).toBe(read);
  });

  it.each([
    [undefined, 'full'],
    ['application/json', 'full'],
    ['application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*', 'abbreviated'],
  ])('Accept %s → the %s packument', (accept, form) => {
    expect(packumentFormOf(accept)).toBe(form);
  });

  it.each([
    ['left-pad', undefined, 'left-pad/_packument/full.json', 'left-pad'],
    [
      '@acme/left-pad',
      'application/vnd.npm.install-v1+json',
      '@acme/left-pad/_packument/abbreviated.json',
      '@acme/left-pad',
    ],
    [
      'left-pad/_packument/abbreviated.json',
      undefined,
      'left-pad/_packument/abbreviated.json',
      'left-pad',
    ],
  ])(
    '%s (Accept %s) is the mutable packument %s from %s',
    (path, accept, jobPath, upstreamPath) => {
      expect(fetchTargetOf(npm, path, accept)).toMatchObject({
        pathClass: 'mutable',
        jobPath,
        storageKey: `npm/${jobPath}`,
        upstreamPath,
        document: { kind: 'index' },
      });
    },
  );

  it('a tarball by its rewritten link is verified against the digest it names', () => {
    expect(
      fetchTargetOf(npm, `_tarballs/sha512-${SHA512}/@acme/left-pad/-/left-pad-1.0.0.tgz`),
    ).toEqual({
      pathClass: 'immutable',
      storageKey: `npm/_tarballs/sha512-${SHA512}/@acme/left-pad/-/left-pad-1.0.0.tgz`,
      upstreamPath: '@acme/left-pad/-/left-pad-1.0.0.tgz',
      expectedDigest: { algorithm: 'sha512', hex: SHA512 },
    });
    expect(
      fetchTargetOf(npm, `_tarballs/sha1-${SHA1}/left-pad/-/left-pad-1.0.0.tgz`),
    ).toMatchObject({
      expectedDigest: { algorithm: 'sha1', hex: SHA1 },
    });
  });

  it('a tarball by the registry path is immutable and not verified by the cache', () => {
    expect(fetchTargetOf(npm, 'left-pad/-/left-pad-1.0.0.tgz')).toEqual({
      pathClass: 'immutable',
      storageKey: 'npm/left-pad/-/left-pad-1.0.0.tgz',
      upstreamPath: 'left-pad/-/left-pad-1.0.0.tgz',
      expectedDigest: undefined,
    });
  });

  it.each([
    ['npm', '_private', 'bad_path'],
    ['npm', '.hidden', 'bad_path'],
    ['npm', 'acme/left-pad', 'forbidden'],
    ['npm', 'left-pad/-/notes.txt', 'forbidden'],
    ['npm', `_tarballs/sha512-${SHA512.slice(2)}/left-pad/-/left-pad-1.0.0.tgz`, 'bad_path'],
    ['npm', `_tarballs/md5-${SHA1}/left-pad/-/left-pad-1.0.0.tgz`, 'bad_path'],
    ['npm', `_tarballs/sha1-${SHA1}/left-pad/other/left-pad-1.0.0.tgz`, 'bad_path'],
    ['only', 'left-pad', 'forbidden'],
    ['only', '@acme/left-pad', null],
  ])('%s: %s is refused (%s)', (remote, path, code) => {
    expect(refusalOf(() => fetchTargetOf(remotes[remote] as ProxyRemoteConfig, path))).toBe(code);
  });
});

describe('packuments', () => {
  const integrity = `sha512-${Buffer.from(SHA512, 'hex').toString('base64')}`;
  const packument = {
    name: '@acme/left-pad',
    'dist-tags': { latest: '1.1.0' },
    versions: {
      '1.0.0': {
        dist: {
          integrity,
          shasum: SHA1,
          tarball: 'https://npm.example.org/registry/@acme/left-pad/-/left-pad-1.0.0.tgz',
        },
      },
      '1.1.0': {
        dist: {
          shasum: SHA1,
          tarball: 'https://npm.example.org/registry/@acme%2fleft-pad/-/left-pad-1.1.0.tgz',
        },
      },
      '2.0.0': { dist: { integrity, tarball: 'https://elsewhere.example.org/left-pad-2.0.0.tgz' } },
      '3.0.0': {
        dist: { tarball: 'https://npm.example.org/registry/@acme/left-pad/-/left-pad-3.0.0.tgz' },
      },
    },
  };
  const rewritten = JSON.parse(
    rewritePackument(
      { body: Buffer.from(JSON.stringify(packument)), contentType: 'application/json' },
      npm,
      fetchTargetOf(npm, '@acme/left-pad'),
    ).toString(),
  );

  it('links each tarball under base_url to the cache, by its sha512 or else its sha1', () => {
    expect(rewritten.versions['1.0.0'].dist).toEqual({
      ...packument.versions['1.0.0'].dist,
      tarball: `/api/v1/remote/npm/_tarballs/sha512-${SHA512}/@acme/left-pad/-/left-pad-1.0.0.tgz`,
    });
    expect(rewritten.versions['1.1.0'].dist.tarball).toBe(
      `/api/v1/remote/npm/_tarballs/sha1-${SHA1}/@acme/left-pad/-/left-pad-1.1.0.tgz`,
    );
  });

  it('links a tarball without a digest by its registry path, unverified', () => {
    expect(rewritten.versions['3.0.0'].dist.tarball).toBe(
      '/api/v1/remote/npm/@acme/left-pad/-/left-pad-3.0.0.tgz',
    );
  });

  it('keeps a link elsewhere, and every other field', () => {
    expect(rewritten.versions['2.0.0']).toEqual(packument.versions['2.0.0']);
    expect(rewritten['dist-tags']).toEqual(packument['dist-tags']);
  });

  it('is presented with the origin the client reached the cache at', () => {
    const stored = Buffer.from(JSON.stringify(rewritten));
    const presented = JSON.parse(
      presentPackument(stored, 'https://cache.example.org/mirror').toString(),
    );
    expect(presented.versions['1.0.0'].dist.tarball).toBe(
      `https://cache.example.org/mirror/api/v1/remote/npm/_tarballs/sha512-${SHA512}/@acme/left-pad/-/left-pad-1.0.0.tgz`,
    );
    expect(presented.versions['2.0.0'].dist.tarball).toBe(
      'https://elsewhere.example.org/left-pad-2.0.0.tgz',
    );
  });

  it('a packument that is not JSON is refused, not stored', () => {
    expect(() =>
      rewritePackument(
        { body: Buffer.from('<html>'), contentType: 'text/html' },
        npm,
        fetchTargetOf(npm, 'x'),
      ),
    ).toThrow(/not JSON/);
  });
});
