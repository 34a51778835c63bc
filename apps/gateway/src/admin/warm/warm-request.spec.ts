import { buildAppConfig } from '@app/config';
import { parseWarmRequest } from './warm-request';

const { remotes } = buildAppConfig({
  remotes: {
    el: { package: 'rpm', base_url: 'https://mirror.example.org/el', include_patterns: ['el9/'] },
    hub: { package: 'docker', base_url: 'https://registry.example.org' },
    uploads: { package: 'local' },
  },
});
const hex = 'a'.repeat(64);

describe('parseWarmRequest', () => {
  it.each([
    [
      { paths: ['el/el9/Packages/x.rpm', '/el/el9/repodata/repomd.xml'] },
      [
        { remote: 'el', path: 'el9/Packages/x.rpm' },
        { remote: 'el', path: 'el9/repodata/repomd.xml' },
      ],
      [],
    ],
    [
      {
        images: [
          'hub/library/alpine:3.19',
          'hub/library/alpine',
          `hub/team/app@sha256:${hex}`,
          'hub/localhost/app',
        ],
      },
      [],
      [
        { remote: 'hub', image: 'library/alpine', reference: '3.19' },
        { remote: 'hub', image: 'library/alpine', reference: 'latest' },
        { remote: 'hub', image: 'team/app', reference: `sha256:${hex}` },
        { remote: 'hub', image: 'localhost/app', reference: 'latest' },
      ],
    ],
  ])('%j', (body, files, images) => {
    expect(parseWarmRequest(body, remotes)).toEqual({ ok: true, files, images });
  });

  it.each([
    [null, ['the body must be a JSON object with "paths" and/or "images"']],
    [[], ['the body must be a JSON object with "paths" and/or "images"']],
    [{}, ['nothing to warm: give "paths", "images" or both']],
    [{ paths: [] }, ['nothing to warm: give "paths", "images" or both']],
    [{ paths: 'el/x.rpm' }, ['paths: must be a list of strings']],
    [{ images: [1] }, ['images: must be a list of strings']],
    [{ paths: ['el/el9/x.rpm'], files: [] }, ['files: unknown key (use "paths" and "images")']],
    [{ paths: ['nope/x.rpm'] }, ['paths: nope/x.rpm: no remote nope']],
    [{ paths: ['el'] }, ['paths: el: no path after the remote']],
    [
      { paths: ['uploads/a.txt'] },
      ['paths: uploads/a.txt: uploads is a hosted remote: its files are here already'],
    ],
    [
      { paths: ['hub/library/alpine/blobs/x'] },
      ['paths: hub/library/alpine/blobs/x: hub is a docker remote: list its images under "images"'],
    ],
    [
      { images: ['el/library/alpine'] },
      ['images: el/library/alpine: el is not a docker remote: list its files under "paths"'],
    ],
    [{ images: ['hub'] }, ['images: hub: no image after the remote']],
    [
      {
        paths: ['el/el8/a.rpm', 'el/el9/../x.rpm', 'el/el9/a.rpm'],
        images: ['hub/Library/Alpine'],
      },
      [
        "paths: el/el8/a.rpm: el8/a.rpm is not allowed by el's include_patterns",
        'paths: el/el9/../x.rpm: "." and ".." segments are not allowed in paths',
        'images: hub/Library/Alpine: invalid repository name "Library/Alpine"',
      ],
    ],
    [
      { paths: Array.from({ length: 1001 }, (_, i) => `el/el9/p${i}.rpm`) },
      ['at most 1000 entries in one warm-up'],
    ],
  ])('refuses %j', (body, problems) => {
    expect(parseWarmRequest(body, remotes)).toEqual({ ok: false, problems });
  });
});
