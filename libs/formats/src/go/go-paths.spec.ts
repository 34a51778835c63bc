import { type ProxyRemoteConfig, buildAppConfig } from '@app/config';
import { fetchTargetOf } from '../fetch-target';
import { FORMATS } from '../formats';
import { refusalOf } from '../refusal';

const remotes = buildAppConfig({
  remotes: {
    golang: {
      package: 'go',
      base_url: 'https://proxy.example.org',
      sumdb_url: 'https://sum.example.org',
    },
    nosum: {
      package: 'go',
      base_url: 'https://proxy.example.org',
      include_patterns: ['example\\.org/.*'],
    },
  },
}).remotes;
const golang = remotes.golang as ProxyRemoteConfig;
const nosum = remotes.nosum as ProxyRemoteConfig;

describe('go paths (GOPROXY protocol)', () => {
  it.each([
    ['example.org/hello/@v/v1.0.0.info', 'immutable'],
    ['example.org/hello/@v/v1.0.0.mod', 'immutable'],
    ['example.org/hello/@v/v1.0.0.zip', 'immutable'],
    ['example.org/!greet/@v/v1.2.0-rc.1+incompatible.zip', 'immutable'],
    ['example.org/hello/@v/list', 'mutable'],
    ['example.org/hello/@latest', 'mutable'],
  ])('%s is %s, fetched as it is', (path, pathClass) => {
    expect(fetchTargetOf(golang, path)).toEqual({
      pathClass,
      storageKey: `golang/${path}`,
      upstreamPath: path,
    });
  });

  it.each([
    ['lookup/example.org/hello@v1.0.0', 'immutable'],
    ['tile/8/0/000', 'immutable'],
    ['tile/8/1/002.p/5', 'immutable'],
    ['latest', 'mutable'],
  ])('sumdb/<name>/%s is %s, from sumdb_url', (rest, pathClass) => {
    expect(fetchTargetOf(golang, `sumdb/sum.example.org/${rest}`)).toEqual({
      pathClass,
      storageKey: `golang/sumdb/sum.example.org/${rest}`,
      upstreamPath: rest,
      upstreamBaseUrl: 'https://sum.example.org',
    });
  });

  it('answers supported itself for its own checksum database only', () => {
    expect(FORMATS.go.answer?.(golang, 'sumdb/sum.example.org/supported')).toEqual({
      body: '',
      contentType: 'text/plain; charset=utf-8',
    });
    expect(FORMATS.go.answer?.(golang, 'sumdb/sum.golang.org/supported')).toBeNull();
    expect(FORMATS.go.answer?.(nosum, 'sumdb/sum.example.org/supported')).toBeNull();
  });

  it.each([
    [golang, 'example.org/hello', 'forbidden'],
    [golang, 'example.org/Hello/@v/list', 'forbidden'],
    [golang, 'example.org/hello/@v/v1.0.0.tar', 'forbidden'],
    [golang, 'sumdb/sum.golang.org/latest', 'not_found'],
    [golang, 'sumdb/sum.example.org/other', 'forbidden'],
    [nosum, 'sumdb/sum.example.org/latest', 'not_found'],
    [nosum, 'other.org/x/@v/list', 'forbidden'],
    [nosum, 'example.org/!greet/@v/list', null],
  ])('%#: %s is refused (%s)', (remote, path, code) => {
    expect(refusalOf(() => fetchTargetOf(remote, path))).toBe(code);
  });
});
