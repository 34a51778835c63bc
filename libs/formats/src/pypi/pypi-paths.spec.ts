import { type ProxyRemoteConfig, buildAppConfig } from '@app/config';
import { refusalOf } from '../refusal';
import { fetchTargetOf } from '../fetch-target';
import { indexVariantOf, normalizeProject } from './pypi-paths';

const HEX = 'ab'.repeat(32);
const remotes = buildAppConfig({
  remotes: {
    pypi: {
      package: 'pypi',
      base_url: 'https://pypi.example.org',
      files_url: 'https://files.example.org',
    },
    plain: { package: 'pypi', base_url: 'https://mirror.example.org/pypi' },
    only: { package: 'pypi', base_url: 'https://mirror.example.org', include_patterns: ['req'] },
  },
}).remotes;
const pypi = remotes.pypi as ProxyRemoteConfig;

describe('indexVariantOf: PEP 691 content negotiation', () => {
  it.each([
    [undefined, 'html'],
    ['*/*', 'html'],
    ['text/html', 'html'],
    // pip's own Accept
    [
      'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01',
      'json',
    ],
    ['application/vnd.pypi.simple.latest+json', 'json'],
    ['application/vnd.pypi.simple.v1+json;q=0.2, text/html', 'html'],
    ['application/vnd.pypi.simple.v1+json;q=0', 'html'],
  ])('%s → %s', (accept, variant) => {
    expect(indexVariantOf(accept)).toBe(variant);
  });
});

describe('normalizeProject (PEP 503)', () => {
  it.each([
    ['Requests', 'requests'],
    ['zope.interface', 'zope-interface'],
    ['Foo__Bar--baz', 'foo-bar-baz'],
  ])('%s → %s', (name, normalized) => {
    expect(normalizeProject(name)).toBe(normalized);
  });
});

describe('fetchTargetOf, pypi', () => {
  const json = 'application/vnd.pypi.simple.v1+json';

  it.each([
    ['simple/', undefined, 'simple/index.html', 'simple/'],
    ['simple', json, 'simple/index.json', 'simple/'],
    ['simple/Requests/', undefined, 'simple/requests/index.html', 'simple/requests/'],
    ['simple/zope.interface', json, 'simple/zope-interface/index.json', 'simple/zope-interface/'],
    // the path a fetch job carries names its variant, whatever the Accept
    ['simple/requests/index.json', undefined, 'simple/requests/index.json', 'simple/requests/'],
  ])('%s (Accept %s) is the mutable index %s from %s', (path, accept, jobPath, upstreamPath) => {
    const target = fetchTargetOf(pypi, path, accept);
    expect(target).toMatchObject({
      pathClass: 'mutable',
      jobPath,
      storageKey: `pypi/${jobPath}`,
      upstreamPath,
      document: { kind: 'index' },
    });
    expect(target.accept).toContain(jobPath.endsWith('.json') ? json : 'text/html');
  });

  it('a file under base_url is immutable and verified against the digest in its path', () => {
    expect(
      fetchTargetOf(pypi, `files/${HEX}/index-host/packages/demo-1.0-py3-none-any.whl`),
    ).toEqual({
      pathClass: 'immutable',
      storageKey: `pypi/files/${HEX}/index-host/packages/demo-1.0-py3-none-any.whl`,
      upstreamPath: 'packages/demo-1.0-py3-none-any.whl',
      upstreamBaseUrl: undefined,
      expectedSha256: HEX,
    });
  });

  it('a file under files_url is fetched from there', () => {
    expect(fetchTargetOf(pypi, `files/${HEX}/files-host/ab/cd/demo-1.0.tar.gz`)).toMatchObject({
      upstreamPath: 'ab/cd/demo-1.0.tar.gz',
      upstreamBaseUrl: 'https://files.example.org',
      expectedSha256: HEX,
    });
  });

  it('without a digest in the index the file is not verified; its metadata (PEP 658) neither', () => {
    expect(fetchTargetOf(pypi, 'files/_/index-host/demo.whl').expectedSha256).toBeUndefined();
    expect(
      fetchTargetOf(pypi, `files/${HEX}/index-host/demo.whl.metadata`).expectedSha256,
    ).toBeUndefined();
  });

  it.each([
    ['pypi', 'packages/demo.whl', 'forbidden'],
    ['pypi', 'simple/a/b/', 'forbidden'],
    ['pypi', `files/${HEX.toUpperCase()}/index-host/demo.whl`, 'bad_path'],
    ['pypi', `files/${HEX}/elsewhere/demo.whl`, 'bad_path'],
    ['plain', `files/${HEX}/files-host/demo.whl`, 'forbidden'],
    ['only', 'simple/flask/', 'forbidden'],
    ['only', 'simple/req/', null],
  ])('%s: %s is refused (%s)', (remote, path, code) => {
    expect(refusalOf(() => fetchTargetOf(remotes[remote] as ProxyRemoteConfig, path))).toBe(code);
  });
});
