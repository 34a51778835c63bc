import type { FastifyRequest } from 'fastify';
import { ArtifactError, withDeadline } from '@app/common';

/** The admin API's JSON bodies are lists of names: this is plenty. */
const MAX_JSON_BYTES = 1024 * 1024;
/** A client that has not sent its body by then is not going to. */
const BODY_TIMEOUT_MS = 30_000;

/**
 * A small request body, read here because the gateway parses no bodies (uploads stream to
 * storage, and nothing is read before the admin token is checked). A body over `maxBytes` or one
 * that does not arrive within 30 s is a 400.
 */
export async function readSmallBody(request: FastifyRequest, maxBytes: number): Promise<Buffer> {
  const bad = (message: string) => new ArtifactError('bad_request', message);
  const read = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request.raw as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        request.raw.destroy();
        throw bad(`the body is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  };
  return withDeadline(read(), BODY_TIMEOUT_MS, () => {
    request.raw.destroy();
    return bad(`the body did not arrive within ${BODY_TIMEOUT_MS / 1000} s`);
  });
}

/** A small JSON request body (readSmallBody); bad JSON or a body over 1 MiB is a 400. */
export async function readJsonBody(request: FastifyRequest): Promise<unknown> {
  const bytes = await readSmallBody(request, MAX_JSON_BYTES);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ArtifactError('bad_request', 'the body is not JSON');
  }
}
