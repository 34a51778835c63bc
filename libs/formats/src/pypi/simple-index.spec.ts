import { type IndexOrigin, cacheLink, rewriteSimpleIndex } from './simple-index';

const HEX = 'cd'.repeat(32);
const origin: IndexOrigin = {
  remote: 'pypi',
  baseUrl: 'https://pypi.example.org/root',
  filesUrl: 'https://files.example.org',
  pageUrl: 'https://pypi.example.org/root/simple/demo/',
};
const cached = '/api/v1/remote/pypi';

describe('cacheLink: where a link of an index page leads', () => {
  it.each([
    [
      `https://files.example.org/ab/cd/demo-1.0.tar.gz#sha256=${HEX}`,
      `${cached}/files/${HEX}/files-host/ab/cd/demo-1.0.tar.gz#sha256=${HEX}`,
    ],
    [
      `../../packages/demo-1.0-py3-none-any.whl#sha256=${HEX.toUpperCase()}`,
      `${cached}/files/${HEX}/index-host/packages/demo-1.0-py3-none-any.whl#sha256=${HEX.toUpperCase()}`,
    ],
    ['/root/packages/demo.zip#md5=0123', `${cached}/files/_/index-host/packages/demo.zip#md5=0123`],
    ['/root/simple/other/', `${cached}/simple/other/`],
    ['../other/', `${cached}/simple/other/`],
    // elsewhere, above base_url, with a query, not http: left as they are
    ['https://elsewhere.example.org/demo.whl', 'https://elsewhere.example.org/demo.whl'],
    ['/demo.whl', '/demo.whl'],
    ['https://files.example.org/demo.whl?token=1', 'https://files.example.org/demo.whl?token=1'],
    ['mailto:someone@example.org', 'mailto:someone@example.org'],
  ])('%s → %s', (href, expected) => {
    expect(cacheLink(href, origin)).toBe(expected);
  });

  it("takes the JSON form's hashes.sha256 over the fragment", () => {
    expect(cacheLink('https://files.example.org/demo.whl', origin, HEX)).toBe(
      `${cached}/files/${HEX}/files-host/demo.whl`,
    );
  });
});

describe('rewriteSimpleIndex', () => {
  it('PEP 503 HTML: only the hrefs change, every attribute and the text are kept', () => {
    const html = [
      '<!DOCTYPE html><html><body>',
      `<a href="https://files.example.org/demo-1.0.tar.gz#sha256=${HEX}" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>`,
      `<A data-dist-info-metadata="sha256=${HEX}" HREF='../../packages/demo.whl?x=1&amp;y=2'>demo.whl</A>`,
      `<a data-yanked="" href=/root/packages/old.whl>old.whl</a>`,
      '</body></html>',
    ].join('\n');
    const rewritten = rewriteSimpleIndex(Buffer.from(html), 'text/html', origin).toString();
    expect(rewritten).toBe(
      [
        '<!DOCTYPE html><html><body>',
        `<a href="${cached}/files/${HEX}/files-host/demo-1.0.tar.gz#sha256=${HEX}" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>`,
        `<A data-dist-info-metadata="sha256=${HEX}" HREF="../../packages/demo.whl?x=1&amp;y=2">demo.whl</A>`,
        `<a data-yanked="" href="${cached}/files/_/index-host/packages/old.whl">old.whl</a>`,
        '</body></html>',
      ].join('\n'),
    );
  });

  it('PEP 691 JSON: file urls change, every other field is kept', () => {
    const page = {
      meta: { 'api-version': '1.1' },
      name: 'demo',
      files: [
        {
          filename: 'demo.whl',
          url: 'https://files.example.org/demo.whl',
          hashes: { sha256: HEX },
          'requires-python': '>=3.8',
          'core-metadata': { sha256: HEX },
          yanked: false,
        },
      ],
      versions: ['1.0'],
    };
    const rewritten = JSON.parse(
      rewriteSimpleIndex(
        Buffer.from(JSON.stringify(page)),
        'application/vnd.pypi.simple.v1+json',
        origin,
      ).toString(),
    );
    expect(rewritten).toEqual({
      ...page,
      files: [{ ...page.files[0], url: `${cached}/files/${HEX}/files-host/demo.whl` }],
    });
  });

  it('a JSON page that does not parse is refused, not stored', () => {
    expect(() =>
      rewriteSimpleIndex(Buffer.from('{"files": ['), 'application/vnd.pypi.simple.v1+json', origin),
    ).toThrow(/not JSON/);
  });
});
