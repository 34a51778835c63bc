import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ArtifactError } from '@app/common';

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
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MANIFEST_MAX_BYTES) {
      body.destroy();
      throw new ArtifactError(
        'upstream_integrity',
        `manifest larger than ${MANIFEST_MAX_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
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
