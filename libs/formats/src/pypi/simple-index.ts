import { ArtifactError } from '@app/common';
import type { ProxyRemoteConfig } from '@app/config';
import type { FetchTarget } from '../fetch-target';
import type { FetchedDocument } from '../formats';
import { ARTIFACT_ROUTE_PREFIX } from '../routes';
import { linkedFilePath, locateUnder } from '../linked-files';

/** Where an index page came from, and what its links may lead to. */
export interface IndexOrigin {
  remote: string;
  /** the remote's base_url, no trailing slash */
  baseUrl: string;
  /** the remote's files_url, no trailing slash */
  filesUrl: string | null;
  /** the page's upstream URL, which relative links are resolved against */
  pageUrl: string;
}

/** The rewrite of pypi (storeRewritten): the index page fetched for `target`, rewritten. */
export function rewritePypiIndex(
  fetched: FetchedDocument,
  remote: ProxyRemoteConfig,
  target: FetchTarget,
): Buffer {
  return rewriteSimpleIndex(fetched.body, fetched.contentType, {
    remote: remote.name,
    baseUrl: remote.baseUrl,
    filesUrl: remote.filesUrl,
    pageUrl: `${remote.baseUrl}/${target.upstreamPath}`,
  });
}

/**
 * A simple index page with every link to a file of the remote's hosts rewritten to the cache's
 * own path for it (`/api/v1/remote/<remote>/files/<sha256>/<host>/<path>`), the page otherwise as
 * the upstream wrote it: `#sha256=` fragments, `data-requires-python`, `data-dist-info-metadata`,
 * `data-yanked` and the JSON form's other fields are kept. Links are absolute paths, so the page
 * is the same for every host name the cache is reached by. A link elsewhere, or with a query,
 * is left as it is (the client fetches it from there).
 */
export function rewriteSimpleIndex(
  body: Buffer,
  contentType: string | undefined,
  origin: IndexOrigin,
): Buffer {
  return /json/i.test(contentType ?? '')
    ? rewriteJson(body, origin)
    : Buffer.from(rewriteHtml(body.toString('utf8'), origin));
}

function rewriteJson(body: Buffer, origin: IndexOrigin): Buffer {
  let page: unknown;
  try {
    page = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ArtifactError(
      'upstream_integrity',
      `the simple index is not JSON: ${(error as Error).message}`,
    );
  }
  const files = (page as { files?: unknown }).files;
  if (Array.isArray(files)) {
    for (const file of files as Array<Record<string, unknown>>) {
      if (file !== null && typeof file === 'object' && typeof file.url === 'string') {
        const hashes = file.hashes as Record<string, unknown> | undefined;
        const sha256 = typeof hashes?.sha256 === 'string' ? hashes.sha256 : undefined;
        file.url = cacheLink(file.url, origin, sha256);
      }
    }
  }
  return Buffer.from(JSON.stringify(page));
}

const ANCHOR = /<a\b[^>]*>/gi;
const HREF = /(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;

function rewriteHtml(html: string, origin: IndexOrigin): string {
  return html.replace(ANCHOR, (tag) =>
    tag.replace(HREF, (_all, lead: string, double?: string, single?: string, bare?: string) => {
      const href = decodeEntities(double ?? single ?? bare ?? '');
      return `${lead}"${escapeAttribute(cacheLink(href, origin))}"`;
    }),
  );
}

/**
 * The cache's path for a link of the page, or the link unchanged. A root index's links to
 * project pages (`simple/<project>/` under base_url) stay under the remote's `simple/`.
 */
export function cacheLink(href: string, origin: IndexOrigin, sha256?: string): string {
  let url: URL;
  try {
    url = new URL(href, origin.pageUrl);
  } catch {
    return href;
  }
  if (url.search !== '' || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return href;
  }
  const located = locateUnder(url, origin);
  if (located?.host === 'index-host' && located.path.startsWith('simple/')) {
    return `${ARTIFACT_ROUTE_PREFIX}${origin.remote}/${located.path}${url.hash}`;
  }
  if (located === null) {
    return href;
  }
  const digest = (
    sha256 ?? /(?:^#|&)sha256=([0-9a-fA-F]{64})\b/.exec(url.hash)?.[1]
  )?.toLowerCase();
  return `${linkedFilePath(origin.remote, digest, located)}${url.hash}`;
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, name: string) => {
    if (name[0] === '#') {
      const code =
        name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
      return Number.isSafeInteger(code) && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return NAMED_ENTITIES[name.toLowerCase()] ?? entity;
  });
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
