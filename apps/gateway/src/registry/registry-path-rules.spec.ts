import { buildAppConfig } from '@app/config';
import type { PullThroughService } from '../serving/pull-through.service';
import { RegistryService } from './registry.service';

const HEX = 'a'.repeat(64);
const config = buildAppConfig({
  remotes: { hub: { package: 'docker', base_url: 'http://127.0.0.1:1/registry' } },
  docker: { default_remote: 'hub' },
});
// resolve() decides from the path alone; serving is not exercised here.
const registry = new RegistryService(config, {} as PullThroughService);

describe('RegistryService.resolve: every /v2 path obeys the path rules', () => {
  it.each([
    ['%252e%252e/a/manifests/latest'],
    ['hub/%252e%252e/manifests/latest'],
    ['hub/a%252fb/manifests/latest'],
    ['hub/a/manifests/%252e%252e'],
    ['hub/a/manifests/v1%255c'],
    ['hub/a/manifests/v1%2500'],
    ['hub/a/manifests/%25252e'],
    [`hub/a/blobs/sha256:${HEX}%252e`],
    ['hub/%2e%2e/manifests/latest'],
    ['hub/../a/manifests/latest'],
    ['hub/a%2fb/manifests/latest'],
    ['hub/a/manifests/..'],
    ['hub//a/manifests/latest'],
    ['hub/a%00/tags/list'],
    // the path rules apply before the operation is looked at
    ['hub/%252e%252e/uploads/x'],
  ])('refuses %s as a bad path', (rest) => {
    expect(() => registry.resolve(rest)).toThrow(expect.objectContaining({ code: 'bad_path' }));
  });

  it('refuses a trailing slash after the operation', () => {
    expect(() => registry.resolve('hub/a/tags/list/')).toThrow(
      expect.objectContaining({ code: 'bad_path' }),
    );
  });

  it('takes the first segment as the remote, else the default remote', () => {
    expect(registry.resolve('hub/library/alpine/manifests/3.20').imageSegments).toEqual([
      'library',
      'alpine',
    ]);
    expect(registry.resolve(`library/alpine/blobs/sha256:${HEX}`).remote.name).toBe('hub');
  });
});
