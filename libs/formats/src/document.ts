import type { Readable } from 'node:stream';
import { ArtifactError } from '@app/common';

/**
 * Index pages (pypi) are rewritten whole, so they are held in memory: a project's page with
 * every release is a few MB at most; beyond this it is refused.
 */
export const INDEX_MAX_BYTES = 64 * 1024 * 1024;

/** A document read whole, refused beyond `maxBytes` rather than held in memory. */
export async function readDocument(
  body: Readable,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new ArtifactError('upstream_integrity', `${what} larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
