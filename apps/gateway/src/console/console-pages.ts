import type { Headroom } from '@app/cache';
import type { RemoteConfig } from '@app/config';
import { servesImages } from '@app/formats';
import type { RemoteStateView } from '../serving/remote-states.service';
import type { Overview, Read, RemoteDetail } from './console-data.service';
import { BROWSE_LIMIT } from './console-data.service';
import { type Html, actionForm, html, humanBytes, page, when } from './console-html';
import { hitRatio, requestCount } from './traffic';

export interface Notice {
  text: string;
  error: boolean;
}

export function loginPage(problem: string | null): string {
  return page(
    { title: 'Log in', formToken: null, notice: problem ? { text: problem, error: true } : null },
    html`<form method="post" action="/admin/login" class="stack">
      <label for="token">Admin token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="current-password"
        required
        autofocus
      />
      <button type="submit">Log in</button>
      <p class="muted">
        The gateway's ADMIN_TOKEN. The session lasts 8 hours, in a cookie that holds a signature,
        never the token.
      </p>
    </form>`,
  );
}

export function overviewPage(overview: Overview, formToken: string, notice: Notice | null): string {
  const rows = overview.remotes.map(({ config, state, usage, traffic, headroom }) => {
    const cap = config.package === 'local' ? null : config.maxSize;
    const ratio = traffic ? hitRatio(traffic) : null;
    return html`<tr>
      <td><a href="/admin/remotes/${config.name}">${config.name}</a></td>
      <td>${config.package}</td>
      <td>${stateCell(config, state)}</td>
      <td class="num">${traffic ? requestCount(traffic) : 0}</td>
      <td class="num">${ratio === null ? '–' : `${Math.round(ratio * 100)}%`}</td>
      <td class="num">${humanBytes(traffic?.bytes ?? 0)}</td>
      <td>${headroomCell(config, headroom)}</td>
      <td class="num">${usage ? usage.objects : '–'}</td>
      <td class="num">
        ${usage ? humanBytes(usage.bytes) : '–'}${cap ? html` <span class="muted">of ${humanBytes(cap)}</span>` : ''}
      </td>
      <td>${usage ? when(usage.oldest_access) : '–'}</td>
    </tr>`;
  });
  const storage = overview.usage.ok
    ? html`<p>
        All remotes hold
        ${humanBytes(overview.usage.value.storage.bytes)}${
          overview.usage.value.storage.max_size
            ? html` of ${humanBytes(overview.usage.value.storage.max_size)}`
            : ''
        }.
        Last eviction pass:
        ${overview.usage.value.last_pass ? when(overview.usage.value.last_pass.at) : 'none yet'}.
      </p>`
    : problem(overview.usage);
  const queue = overview.queue.ok
    ? html`<div class="table">
          <table>
            <thead>
              <tr>
                ${Object.keys(overview.queue.value).map((state) => html`<th class="num" scope="col">${state}</th>`)}
              </tr>
            </thead>
            <tbody>
              <tr>
                ${Object.values(overview.queue.value).map((n) => html`<td class="num">${n}</td>`)}
              </tr>
            </tbody>
          </table>
        </div>
        <p>
          <a href="/admin/queues/">Open the queue board</a> to inspect, retry or cancel fetches.
        </p>`
    : problem(overview.queue);
  const checks = Object.entries(overview.health.checks).map(
    ([name, check]) =>
      html`<tr>
        <th scope="row">${name}</th>
        <td class="${check === 'ok' ? 'state-online' : 'state-offline'}">${check}</td>
      </tr>`,
  );
  return page(
    { title: 'Overview', formToken, notice },
    html`<h2>Remotes</h2>
      <div class="table">
        <table>
          <thead>
            <tr>
              <th scope="col">Remote</th>
              <th scope="col">Type</th>
              <th scope="col">State</th>
              <th scope="col" class="num">Requests, last hour</th>
              <th scope="col" class="num">Hit ratio</th>
              <th scope="col" class="num">Served</th>
              <th scope="col">Upstream headroom</th>
              <th scope="col" class="num">Files</th>
              <th scope="col" class="num">Stored</th>
              <th scope="col">Least recent use</th>
            </tr>
          </thead>
          <tbody>
            ${rows}
          </tbody>
        </table>
      </div>
      ${overview.trafficProblem ? html`<p class="notice error">Traffic and headroom: ${overview.trafficProblem}</p>` : ''}
      ${storage}
      <h2>Fetch queue</h2>
      ${queue}
      <h2>Health: ${overview.health.status}</h2>
      <div class="table">
        <table>
          <tbody>
            ${checks}
          </tbody>
        </table>
      </div>`,
  );
}

export function remotePage(
  detail: RemoteDetail,
  query: string,
  formToken: string,
  notice: Notice | null,
): string {
  const { config, state } = detail;
  const base = `/admin/remotes/${config.name}`;
  const images = servesImages(config);
  const field = (name: string, label: string, placeholder: string) =>
    html`<label for="${name}-${label}">${label}</label>
      <input
        id="${name}-${label}"
        name="path"
        type="text"
        placeholder="${placeholder}"
        required
      />`;
  const actions =
    config.package === 'local'
      ? html`<form
            id="upload"
            class="inline"
            data-remote="${config.name}"
            data-form-token="${formToken}"
          >
            <label for="upload-file">Upload a file</label>
            <input id="upload-file" name="file" type="file" required />
            <label for="upload-dir">into</label>
            <input id="upload-dir" name="dir" type="text" placeholder="dir/ (optional)" />
            <button type="submit">Upload</button>
            <progress hidden max="1" value="0"></progress>
            <output role="status" aria-live="polite"></output>
          </form>
          <script src="/admin/console.js" defer></script>`
      : html`<div class="actions">
          ${
            state?.offline_by === 'admin' || state?.state === 'online'
              ? state?.state === 'online'
                ? actionForm(`${base}/offline`, formToken, 'Switch offline')
                : actionForm(`${base}/online`, formToken, 'Switch online')
              : ''
          }
          ${actionForm(`${base}/purge`, formToken, 'Purge', field('purge', 'Path or prefix/', 'a/b.rpm or a/'), true)}
          ${actionForm(`${base}/warm`, formToken, 'Warm', field('warm', images ? 'Image' : 'Path', images ? 'library/alpine:3.19' : 'a/b.rpm'))}
          ${actionForm(`${base}/flush`, formToken, `Flush all of ${config.name}`, '', true)}
        </div>`;
  const usage = detail.usage.ok
    ? detail.usage.value
      ? html`<dl class="facts">
          <dt>Files</dt>
          <dd>${detail.usage.value.objects}</dd>
          <dt>Stored</dt>
          <dd>
            ${humanBytes(detail.usage.value.bytes)}${detail.usage.value.max_size ? html` of ${humanBytes(detail.usage.value.max_size)}` : ''}
          </dd>
          <dt>Least recent use</dt>
          <dd>${when(detail.usage.value.oldest_access)}</dd>
          <dt>Last pass removed</dt>
          <dd>
            ${detail.usage.value.last_pass ? `${detail.usage.value.last_pass.removed_objects} files, ${humanBytes(detail.usage.value.last_pass.removed_bytes)}` : 'nothing yet'}
          </dd>
        </dl>`
      : html`<p class="muted">Nothing cached.</p>`
    : problem(detail.usage);
  const files = detail.files.ok
    ? detail.files.value.length === 0
      ? html`<p class="muted">
          No cached file ${query ? html`matches <code>${query}</code>` : 'yet'}.
        </p>`
      : html`<div class="table">
            <table>
              <thead>
                <tr>
                  <th scope="col">Path</th>
                  <th scope="col" class="num">Size</th>
                  <th scope="col">sha256</th>
                  <th scope="col">${config.package === 'local' ? 'Uploaded' : 'Fetched'}</th>
                  <th scope="col">Last hit</th>
                  <th scope="col" class="num">Hits</th>
                  <th scope="col">${config.package === 'local' ? 'Delete' : 'Kind'}</th>
                </tr>
              </thead>
              <tbody>
                ${detail.files.value.map(
                  (file) =>
                    html`<tr>
                      <td><code>${file.path}</code></td>
                      <td class="num">${humanBytes(file.size)}</td>
                      <td>
                        <span class="digest" title="${file.sha256}"
                          >${file.sha256.slice(0, 16)}…</span
                        >
                      </td>
                      <td>${when(file.fetchedAt)}</td>
                      <td>${when(file.lastAccessedAt)}</td>
                      <td class="num">${file.hits}</td>
                      <td>
                        ${
                          config.package === 'local'
                            ? actionForm(
                                `${base}/delete`,
                                formToken,
                                'Delete',
                                html`<input type="hidden" name="path" value="${file.path}" />`,
                                true,
                              )
                            : html`${file.pathClass}${file.freshness ? html` <span class="muted">(${file.freshness})</span>` : ''}`
                        }
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>
          ${detail.files.value.length === BROWSE_LIMIT ? html`<p class="muted">The first ${BROWSE_LIMIT} by path: narrow the prefix for more.</p>` : ''}`
    : problem(detail.files);
  const failures = detail.failures.ok
    ? detail.failures.value.length === 0
      ? html`<p class="muted">No failed fetch kept.</p>`
      : html`<div class="table">
          <table>
            <thead>
              <tr>
                <th scope="col">Path</th>
                <th scope="col">When</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              ${detail.failures.value.map(
                (job) =>
                  html`<tr>
                    <td><code>${job.path}</code></td>
                    <td>${when(job.created_at)}</td>
                    <td>${job.last_error ?? ''}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
        </div>`
    : problem(detail.failures);
  return page(
    { title: `${config.name} (${config.package})`, formToken, notice },
    html`<p>
        State:
        ${stateCell(config, state)}${config.package === 'local' ? '' : html` · upstream <code>${withoutCredentials(config.baseUrl)}</code>`}
      </p>
      ${actions}
      <h2>Stored</h2>
      ${usage}
      <h2>Cached files</h2>
      <form method="get" action="${base}" class="inline" role="search">
        <label for="q">${images ? 'Image, path prefix or sha256' : 'Path prefix or sha256'}</label>
        <input
          id="q"
          name="q"
          type="search"
          value="${query}"
          placeholder="${images ? 'library/alpine:3.19, library/alpine/ or sha256:…' : 'dir/ or sha256:…'}"
        />
        <button type="submit">Search</button>
      </form>
      ${files}
      <h2>Recent failures</h2>
      ${failures}`,
  );
}

/** What is left of the remote's own limits and of the budget its upstream announces. */
function headroomCell(config: RemoteConfig, headroom: Headroom | null): Html | string {
  if (config.package === 'local') {
    return '–';
  }
  if (headroom === null) {
    return html`<span class="muted">unknown</span>`;
  }
  const parts: Html[] = [];
  if (headroom.budget) {
    parts.push(html`${headroom.budget.left} of ${headroom.budget.perMinute}/min left`);
  }
  if (headroom.slots) {
    parts.push(html`${headroom.slots.open} of ${headroom.slots.max} open`);
  }
  const advertised = headroom.advertised;
  if (advertised) {
    const left = advertised.remaining ?? '?';
    const of = advertised.limit === null ? '' : ` of ${advertised.limit}`;
    parts.push(html`upstream: ${left}${of} left at ${when(advertised.at)}`);
  }
  return parts.length === 0
    ? html`<span class="muted">no limits known</span>`
    : html`${parts.map((part, i) => html`${i > 0 ? html`<br />` : ''}${part}`)}`;
}

function stateCell(config: RemoteConfig, state: RemoteStateView | null): Html {
  if (config.package === 'local') {
    return html`<span class="muted">hosted</span>`;
  }
  if (state === null) {
    return html`<span class="muted">unknown</span>`;
  }
  const label = state.state === 'circuit_open' ? 'circuit open' : state.state;
  return html`<span class="state-${state.state}">${label}</span
    >${state.since ? html` <span class="muted">since ${when(state.since)}</span>` : ''}`;
}

function problem(read: Read<unknown>): Html {
  return read.ok ? html`` : html`<p class="notice error">${read.problem}</p>`;
}

/** A URL as a page may show it: credentials in it are not. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}
