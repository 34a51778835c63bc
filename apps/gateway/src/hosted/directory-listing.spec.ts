import { childrenOf, renderHtml } from './directory-listing';

const at = new Date('2026-01-01T00:00:00Z');
const files = [
  { path: 'releases/v1/tool.tar.gz', size: 10, sha256: 'a', storedAt: at },
  { path: 'releases/v1/tool.sha256', size: 1, sha256: 'b', storedAt: at },
  { path: 'releases/notes.txt', size: 5, sha256: 'c', storedAt: at },
  { path: 'readme', size: 2, sha256: 'd', storedAt: at },
];

describe('directory listing', () => {
  it('lists the immediate children: directories once, files with their size', () => {
    expect(childrenOf('', files)).toEqual([
      { name: 'readme', type: 'file', size: 2, sha256: 'd', modified: at.toISOString() },
      { name: 'releases', type: 'directory' },
    ]);
    expect(childrenOf('releases/', files.slice(0, 3)).map((e) => `${e.type}:${e.name}`)).toEqual([
      'file:notes.txt',
      'directory:v1',
    ]);
  });

  it('escapes names in HTML', () => {
    const html = renderHtml({
      remote: 'hosted',
      path: '',
      entries: [{ name: '<script>.txt', type: 'file', size: 1 }],
    });
    expect(html).toContain('&#60;script&#62;.txt');
    expect(html).not.toContain('<script>');
  });
});
