/** HTML for the console's pages: escaping, the layout, and the small pieces every page uses. */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Markup already escaped (what `html` returns), so that it is not escaped twice. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Interpolated = Html | string | number | null | undefined | readonly Interpolated[];

/** A template whose every interpolated value is escaped, unless it is Html itself. */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): Html {
  let text = strings[0];
  values.forEach((value, i) => {
    text += render(value) + strings[i + 1];
  });
  return new Html(text);
}

function render(value: Interpolated): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (value instanceof Html) {
    return value.text;
  }
  if (Array.isArray(value)) {
    return value.map(render).join('');
  }
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → `1.5 KiB`. */
export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** An ISO time shown as UTC to the second, in a <time> element; `never` for none. */
export function when(value: Date | string | null): Html {
  if (value === null) {
    return html`<span class="muted">never</span>`;
  }
  const iso = new Date(value).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

/** A form that posts to the console with its form token; `button` is its one submit. */
export function actionForm(
  action: string,
  formToken: string,
  button: string,
  fields: Html | string = '',
  danger = false,
): Html {
  return html`<form method="post" action="${action}" class="inline">
    <input
      type="hidden"
      name="form_token"
      value="${formToken}"
    />${fields instanceof Html ? fields : html`${fields}`}
    <button type="submit" ${danger ? new Html(' class="danger"') : ''}>${button}</button>
  </form>`;
}

export interface Layout {
  title: string;
  /** null on the login page */
  formToken: string | null;
  /** one line shown above the page: what the last action did, or why it failed */
  notice?: { text: string; error: boolean } | null;
}

/** A whole page: one stylesheet of the gateway's own, readable from 320 px up. */
export function page(layout: Layout, main: Html): string {
  const nav =
    layout.formToken === null
      ? ''
      : html`<nav aria-label="Console">
          <a href="/admin">Overview</a>
          <a href="/admin/queues/">Queue board</a>
          <a href="/docs">API</a>
          ${actionForm('/admin/logout', layout.formToken, 'Log out')}
        </nav>`;
  const notice = layout.notice
    ? html`<p role="status" class="${layout.notice.error ? 'notice error' : 'notice'}">
        ${layout.notice.text}
      </p>`
    : '';
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${layout.title} · artifact cache</title>
        <link rel="stylesheet" href="/admin/console.css" />
      </head>
      <body>
        <header><a class="brand" href="/admin">artifact cache</a>${nav}</header>
        <main>
          <h1>${layout.title}</h1>
          ${notice}${main}
        </main>
      </body>
    </html> `.text;
}

/** Content-Security-Policy of every console page: its own stylesheet, no scripts, no framing. */
export const CONSOLE_CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const CONSOLE_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #59636e; --line: #d1d9e0;
  --accent: #0a58ca; --bad: #b42318; --good: #1a7f37; --warn: #9a6700; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1;
  --line: #3d444d; --accent: #6ea8fe; --bad: #ff7b72; --good: #56d364; --warn: #e3b341; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center;
  padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
header nav { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
.brand { font-weight: 600; color: var(--fg); text-decoration: none; }
main { max-width: 76rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid var(--accent);
  outline-offset: 2px; }
.table { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
code, .digest { font: 13px/1.4 ui-monospace, monospace; word-break: break-all; }
.muted { color: var(--muted); }
.state-online { color: var(--good); } .state-offline, .state-circuit_open { color: var(--bad); }
.notice { padding: .5rem .75rem; border: 1px solid var(--good); border-radius: 4px; }
.notice.error { border-color: var(--bad); }
form.inline { display: inline-flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: 0; }
form.stack { display: grid; gap: .5rem; max-width: 24rem; }
.actions { display: flex; flex-wrap: wrap; gap: .75rem 1.25rem; margin: .5rem 0 1rem; }
input[type=text], input[type=password], input[type=search] { font: inherit; padding: .35rem .5rem;
  border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg);
  min-width: 12rem; }
button { font: inherit; padding: .3rem .8rem; border: 1px solid var(--line); border-radius: 4px;
  background: transparent; color: var(--fg); cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { color: var(--muted); }
`;

/**
 * The one script, on a hosted remote's page: sends the chosen file as the body of
 * `PUT /admin/remotes/<remote>/files/<dir><name>` to show its progress, then reloads the page.
 */
export const CONSOLE_JS = `'use strict';
(function () {
  var form = document.getElementById('upload');
  if (!form) return;
  var bar = form.querySelector('progress');
  var out = form.querySelector('output');
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var file = form.elements.file.files[0];
    if (!file) return;
    var dir = form.elements.dir.value.trim().replace(/^\\/+/, '');
    if (dir && !dir.endsWith('/')) dir += '/';
    var path = (dir + file.name).split('/').map(encodeURIComponent).join('/');
    var remote = encodeURIComponent(form.dataset.remote);
    var xhr = new XMLHttpRequest();
    xhr.open('PUT', '/admin/remotes/' + remote + '/files/' + path);
    xhr.setRequestHeader('X-Form-Token', form.dataset.formToken);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    bar.hidden = false;
    bar.value = 0;
    out.textContent = 'Uploading ' + file.name + '...';
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) {
        bar.value = e.loaded / e.total;
        out.textContent = 'Uploading ' + file.name + ': ' + Math.floor((100 * e.loaded) / e.total) + '%';
      }
    };
    xhr.onload = function () {
      if (xhr.status === 201) {
        location.href = JSON.parse(xhr.responseText).page;
        return;
      }
      var message = 'the upload failed (' + xhr.status + ')';
      try { message = JSON.parse(xhr.responseText).message || message; } catch (e) {}
      out.textContent = message;
    };
    xhr.onerror = function () { out.textContent = 'the upload failed: no answer from the gateway'; };
    xhr.send(file);
  });
})();
`;
