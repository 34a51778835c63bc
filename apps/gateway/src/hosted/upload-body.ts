import type {} from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { ArtifactError } from '@app/common';

export interface UploadBody {
  stream: Readable;
  contentType: string | null;
  /** true when the multipart part hit a size limit (never with the limits set here) */
  truncated: () => boolean;
}

/**
 * The bytes of a PUT: the multipart field `file`, or the raw body. Nothing is buffered: the
 * gateway registers no body parser, so the request stream is still unread here.
 */
async function uploadBody(request: FastifyRequest): Promise<UploadBody> {
  if (!request.isMultipart()) {
    const type = request.headers['content-type'] ?? null;
    return { stream: request.raw, contentType: type, truncated: () => false };
  }
  let part;
  try {
    for await (const candidate of request.files({
      limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 1 },
    })) {
      if (candidate.fieldname === 'file') {
        part = candidate;
        break;
      }
      candidate.file.resume();
    }
  } catch (error) {
    throw new ArtifactError('bad_request', `malformed multipart body: ${(error as Error).message}`);
  }
  if (!part) {
    throw new ArtifactError('bad_request', 'multipart upload without a field named "file"');
  }
  const file = part;
  return {
    stream: file.file,
    contentType: file.mimetype || null,
    truncated: () => file.file.truncated,
  };
}

/**
 * What a PUT uploads: its bytes, read once the upload may start, and the sha256 its client
 * declared (X-Checksum-Sha256), which the stored bytes must match.
 */
export function uploadOf(request: FastifyRequest): {
  body: () => Promise<UploadBody>;
  sha256: string | undefined;
} {
  const checksum = request.headers['x-checksum-sha256'];
  return {
    body: () => uploadBody(request),
    sha256: Array.isArray(checksum) ? checksum[0] : checksum,
  };
}
