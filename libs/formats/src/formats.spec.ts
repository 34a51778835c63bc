import { PACKAGE_TYPES, buildAppConfig } from '@app/config';
import { servesImages } from './formats';

describe('servesImages', () => {
  it.each(PACKAGE_TYPES.map((type) => [type, type === 'docker']))('%s: %s', (type, images) => {
    const remote =
      type === 'local'
        ? { package: 'local' }
        : { package: type, base_url: 'https://mirror.example.org' };
    const config = buildAppConfig({ remotes: { r: remote } });
    expect(servesImages(config.remotes.r)).toBe(images);
  });
});
