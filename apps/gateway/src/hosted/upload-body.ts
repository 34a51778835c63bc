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
export async function uploadBody(request: FastifyRequest): Promise<UploadBody> {
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
