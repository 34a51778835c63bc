import { type ProxyRemoteConfig, buildAppConfig } from '@app/config';
import { fetchTargetOf } from '../fetch-target';
import { refusalOf } from '../refusal';
import { presentCargoConfig, rewriteCargoConfig } from './cargo-config';

const HEX = 'ef'.repeat(32);
const remotes = buildAppConfig({
  remotes: {
    crates: {
      package: 'cargo',
      base_url: 'https://index.example.org',
      files_url: 'https://static.example.org',
    },
    plain: { package: 'cargo', base_url: 'https://mirror.example.org/cargo/index' },
  },
}).remotes;
const crates = remotes.crates as ProxyRemoteConfig;
const plain = remotes.plain as ProxyRemoteConfig;

describe('cargo paths (sparse registry)', () => {
  it.each(['config.json', '1/a', '2/ab', '3/a/abc', 'se/rd/serde', 'ti/ny/tiny-helper'])(
    '%s is mutable, fetched as it is',
    (path) => {
      expect(fetchTargetOf(crates, path)).toMatchObject({
        pathClass: 'mutable',
        storageKey: `crates/${path}`,
        upstreamPath: path,
      });
    },
  );

  it('only config.json is rewritten', () => {
    expect(fetchTargetOf(crates, 'config.json').document).toEqual({ kind: 'index' });
    expect(fetchTargetOf(crates, 'se/rd/serde').document).toBeUndefined();
  });

  it('a crate is immutable, verified against the checksum in its path, from its host', () => {
    expect(fetchTargetOf(crates, `files/${HEX}/files-host/crates/serde/1.0.0/download`)).toEqual({
      pathClass: 'immutable',
      storageKey: `crates/files/${HEX}/files-host/crates/serde/1.0.0/download`,
      upstreamPath: 'crates/serde/1.0.0/download',
      upstreamBaseUrl: 'https://static.example.org',
      expectedSha256: HEX,
    });
  });

  it.each([
    ['se/rj/serde-json', 'forbidden'],
    ['1/ab', 'forbidden'],
    ['3/b/abc', 'forbidden'],
    ['se/rd/Serde', 'forbidden'],
    ['serde', 'forbidden'],
    [`files/${HEX}/files-host`, 'bad_path'],
    [`files/nothex/index-host/x`, 'bad_path'],
  ])('%s is refused (%s)', (path, code) => {
    expect(refusalOf(() => fetchTargetOf(crates, path))).toBe(code);
  });

  it('a crate on files-host of a remote without files_url is refused', () => {
    expect(refusalOf(() => fetchTargetOf(plain, `files/${HEX}/files-host/x/download`))).toBe(
      'forbidden',
    );
  });
});

describe("cargo's config.json", () => {
  const rewrite = (remote: ProxyRemoteConfig, config: object) =>
    JSON.parse(
      rewriteCargoConfig(
        { body: Buffer.from(JSON.stringify(config)), contentType: 'application/json' },
        remote,
        fetchTargetOf(remote, 'config.json'),
      ).toString(),
    );

  it.each([
    [
      crates,
      'https://static.example.org/crates',
      '/api/v1/remote/crates/files/{sha256-checksum}/files-host/crates/{crate}/{version}/download',
    ],
    [
      crates,
      'https://index.example.org/dl/{prefix}/{crate}-{version}.crate',
      '/api/v1/remote/crates/files/{sha256-checksum}/index-host/dl/{prefix}/{crate}-{version}.crate',
    ],
    [
      plain,
      'https://mirror.example.org/cargo/index/api/v1/crates',
      '/api/v1/remote/plain/files/{sha256-checksum}/index-host/api/v1/crates/{crate}/{version}/download',
    ],
    // elsewhere: cargo downloads from there itself
    [plain, 'https://static.example.org/crates', 'https://static.example.org/crates'],
  ])('%#: dl %s → %s', (remote, dl, rewritten) => {
    expect(rewrite(remote, { dl, api: 'https://api.example.org' })).toEqual({
      dl: rewritten,
      api: 'https://api.example.org',
    });
  });

  it('is presented with the origin the client reached the cache at', () => {
    const stored = Buffer.from(
      JSON.stringify(rewrite(crates, { dl: 'https://static.example.org/crates' })),
    );
    expect(JSON.parse(presentCargoConfig(stored, 'https://cache.example.org').toString()).dl).toBe(
      'https://cache.example.org/api/v1/remote/crates/files/{sha256-checksum}/files-host/crates/{crate}/{version}/download',
    );
  });

  it('a config.json without dl, or not JSON, is refused, not stored', () => {
    expect(() => rewrite(crates, { api: 'x' })).toThrow(/no dl/);
    expect(() =>
      rewriteCargoConfig(
        { body: Buffer.from('{'), contentType: undefined },
        crates,
        fetchTargetOf(crates, 'config.json'),
      ),
    ).toThrow(/not JSON/);
  });
});
