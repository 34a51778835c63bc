import { Html, html, humanBytes, when } from './console-html';

describe('console html', () => {
  it('escapes every interpolated value but markup it made itself', () => {
    const name = `<script>alert("x")</script>&'`;
    const inner = html`<b>${name}</b>`;
    const markup = html; // (prettier reflows templates tagged `html`)
    const row = markup`<td>${name}</td>${inner}`;
    expect(row.text).toBe(
      '<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>' +
        '<b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</b>',
    );
    expect(html`${[1, new Html('<i>'), null, undefined, 'a<b']}`.text).toBe('1<i>a&lt;b');
  });

  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [20 * 1024 * 1024, '20 MiB'],
    [50 * 1024 ** 3, '50 GiB'],
  ])('%d bytes are %s', (bytes, text) => {
    expect(humanBytes(bytes)).toBe(text);
  });

  it('shows times in UTC to the second', () => {
    expect(when('2026-12-03T20:15:01.123Z').text).toBe(
      '<time datetime="2026-12-03T20:15:01.123Z">2026-12-03 20:15:01 UTC</time>',
    );
    expect(when(null).text).toContain('never');
  });
});
