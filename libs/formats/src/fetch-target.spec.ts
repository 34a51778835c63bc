import { type ProxyRemoteConfig, buildAppConfig } from '@app/config';
import { refusalOf } from './refusal';
import { fetchTargetOf } from './fetch-target';

const HEX = 'ab'.repeat(32);
const hub = buildAppConfig({
  remotes: { hub: { package: 'docker', base_url: 'https://registry.example.org' } },
}).remotes.hub as ProxyRemoteConfig;

describe('fetchTargetOf, docker: the registry request decides, not path patterns', () => {
  it.each([
    ['library/nginx/manifests/latest', 'mutable', 'hub/library/nginx/_tags/latest'],
    ['library/nginx/manifests/1.25-alpine', 'mutable', 'hub/library/nginx/_tags/1.25-alpine'],
    ['library/nginx/tags/list', 'mutable', 'hub/library/nginx/_tag_lists/all'],
    [`library/nginx/manifests/sha256:${HEX}`, 'immutable', null],
    [`library/nginx/blobs/sha256:${HEX}`, 'immutable', null],
  ])('%s is %s', (path, pathClass, storageKey) => {
    const target = fetchTargetOf(hub, path);
    expect(target.pathClass).toBe(pathClass);
    if (storageKey) {
      expect(target.storageKey).toBe(storageKey);
    }
    if (pathClass === 'immutable') {
      expect(target.expectedSha256).toBe(HEX);
    }
  });

  it.each([
    [`library/nginx/blobs/sha256:${HEX.slice(4)}`, 'bad_request'],
    [`org/team/app/blobs/sha512:${'c0ffee42'.repeat(16)}`, 'bad_request'],
    ['library/nginx/uploads/', 'not_found'],
  ])('%s is refused (%s)', (path, code) => {
    expect(refusalOf(() => fetchTargetOf(hub, path))).toBe(code);
  });
});
