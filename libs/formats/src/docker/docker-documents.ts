import type { StoredArtifact } from '@app/jobs';
import { type UpstreamResponse, discard } from '@app/upstream';
import type { DocumentFetch } from '../document-fetch';
import { readManifest, readTagListPage } from './manifest-document';
import { referencedDigests } from './manifest-references';

/** A tag list assembled from more pages than this is cut (and logged): one object per image. */
const MAX_TAG_LIST_PAGES = 50;

/** PackageFormat.storeDocument of docker: manifests and tag lists. */
export function storeDockerDocument(
  fetch: DocumentFetch,
  response: UpstreamResponse,
): Promise<StoredArtifact> {
  const document = fetch.target.document;
  switch (document?.kind) {
    case 'manifest':
      return storeManifest(fetch, response, document.manifestDigestKeyPrefix);
    case 'tag_list':
      return storeTagList(fetch, response);
    case 'index':
    case undefined:
      throw new Error(`unreachable: a docker document of kind ${document?.kind}`);
  }
}

/**
 * Docker manifests are small: read whole, checked against the digest asked for, and stored
 * under the digest as well as under the tag, so `image@sha256:…` is a hit after `image:tag`.
 */
async function storeManifest(
  fetch: DocumentFetch,
  response: UpstreamResponse,
  digestKeyPrefix: string,
): Promise<StoredArtifact> {
  const { target } = fetch;
  const document = await readManifest(response.body, response.headers['content-type']);
  if (target.expectedSha256 && document.sha256 !== target.expectedSha256) {
    throw fetch.failure(
      'upstream_integrity',
      `manifest digest mismatch: asked for sha256:${target.expectedSha256}, got sha256:${document.sha256}`,
      true,
    );
  }
  const digestKey = `${digestKeyPrefix}/sha256/${document.sha256}`;
  for (const key of new Set([digestKey, target.storageKey])) {
    await fetch.write(key, document.bytes, document.mediaType, document.sha256);
  }
  if (target.pathClass === 'mutable') {
    await fetch.rememberCheck(`sha256:${document.sha256}`);
  }
  const artifact: StoredArtifact = {
    storageKey: target.storageKey,
    size: document.bytes.length,
    sha256: document.sha256,
    contentType: document.mediaType,
  };
  const refersTo = referencedDigests(document.bytes);
  await fetch.published(artifact, response.headers, refersTo);
  if (digestKey !== target.storageKey) {
    // The copy under the digest is a file of its own: eviction must see it to remove it.
    const image = fetch.path.slice(0, fetch.path.lastIndexOf('/manifests/'));
    fetch.recordAlso(
      `${image}/manifests/sha256:${document.sha256}`,
      { ...artifact, storageKey: digestKey },
      refersTo,
    );
  }
  return artifact;
}

/**
 * A tag list is stored whole, one object per image, however the upstream pages it (its `Link:
 * rel="next"` is followed, on the same path only); the gateway cuts the pages clients ask for.
 */
async function storeTagList(
  fetch: DocumentFetch,
  first: UpstreamResponse,
): Promise<StoredArtifact> {
  const { target } = fetch;
  const tags = new Set<string>();
  let name = '';
  const asked = new Set<string>();
  let response = first;
  for (let page = 1; ; page += 1) {
    const read = await readTagListPage(response.body);
    name ||= read.name;
    read.tags.forEach((tag) => tags.add(tag));
    const next = nextPageQuery(response.headers.link, target.upstreamPath);
    // A registry that links a page to itself (or back) would otherwise be asked forever.
    if (next === null || asked.has(next)) {
      break;
    }
    asked.add(next);
    if (page >= MAX_TAG_LIST_PAGES) {
      fetch.warn(`${fetch.remote.name} ${fetch.path}: tag list cut after ${page} pages`);
      break;
    }
    const { response: following, message } = await fetch.page(next);
    if (!following || following.status !== 200) {
      if (following) {
        await discard(following.body);
      }
      throw fetch.failure('upstream_unavailable', `tag list page ${page + 1}: ${message}`, false);
    }
    response = following;
  }
  const body = Buffer.from(
    JSON.stringify({ name, tags: [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) }),
  );
  const written = await fetch.write(target.storageKey, body, 'application/json', undefined);
  const artifact: StoredArtifact = {
    storageKey: target.storageKey,
    size: written.size,
    sha256: written.sha256,
    contentType: 'application/json',
  };
  await fetch.published(artifact, {});
  return artifact;
}

/**
 * The query of a `Link: <...>; rel="next"` header (RFC 8288) when it names the same upstream
 * path: a tag list's next page. Anything else (another path, another host) is not followed.
 */
function nextPageQuery(link: string | undefined, upstreamPath: string): string | null {
  if (!link) {
    return null;
  }
  for (const part of link.split(',')) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!match || !/\brel="?next"?/i.test(match[2])) {
      continue;
    }
    let url: URL;
    try {
      url = new URL(match[1], 'http://upstream.invalid');
    } catch {
      return null;
    }
    const sameHost = url.host === 'upstream.invalid';
    if (!sameHost || !url.pathname.endsWith(`/${upstreamPath}`) || url.search === '') {
      return null;
    }
    return url.search.slice(1);
  }
  return null;
}
