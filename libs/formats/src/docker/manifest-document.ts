import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ArtifactError } from '@app/common';
import { readDocument } from '../document';

/** Manifests and tag lists are small; anything bigger is refused rather than held in memory. */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

export interface ManifestDocument {
  bytes: Buffer;
  sha256: string;
  mediaType: string;
}

/** Reads a manifest body whole (capped) and works out its digest and media type. */
export async function readManifest(
  body: Readable,
  headerType: string | undefined,
): Promise<ManifestDocument> {
  const bytes = await readDocument(body, MANIFEST_MAX_BYTES, 'manifest');
  return {
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    mediaType: mediaTypeOf(bytes, headerType),
  };
}

const GENERIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

/**
 * The upstream's Content-Type when it names a manifest type; otherwise the document's own
 * `mediaType` field (some registries and static mirrors answer application/json).
 */
export function mediaTypeOf(bytes: Buffer, headerType: string | undefined): string {
  const stated = (headerType ?? '').split(';')[0].trim();
  if (!GENERIC_TYPES.has(stated.toLowerCase())) {
    return stated;
  }
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as {
      mediaType?: unknown;
      schemaVersion?: unknown;
    };
    if (typeof parsed.mediaType === 'string') {
      return parsed.mediaType;
    }
  } catch {
    // not JSON: keep what the upstream said
  }
  return stated || 'application/json';
}

/** One page of a registry tag list: `{"name": "...", "tags": [...]}` (tags may be null). */
export async function readTagListPage(body: Readable): Promise<{ name: string; tags: string[] }> {
  const bytes = await readDocument(body, MANIFEST_MAX_BYTES, 'tag list');
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ArtifactError('upstream_integrity', 'tag list is not JSON');
  }
  const page = parsed as { name?: unknown; tags?: unknown } | null;
  const tags = page?.tags ?? [];
  if (
    typeof page !== 'object' ||
    !Array.isArray(tags) ||
    !tags.every((tag): tag is string => typeof tag === 'string')
  ) {
    throw new ArtifactError('upstream_integrity', 'tag list is not {"name", "tags": [...]}');
  }
  return { name: typeof page?.name === 'string' ? page.name : '', tags };
}
