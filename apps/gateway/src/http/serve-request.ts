import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServeRequest } from '../serving/serve-plan';

/** The request parts that shape an artifact answer, with a signal that fires if the client leaves. */
export function serveRequestOf(request: FastifyRequest, reply: FastifyReply): ServeRequest {
  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) {
      abort.abort();
    }
  });
  return {
    method: request.method === 'HEAD' ? 'HEAD' : 'GET',
    range: header(request, 'range'),
    ifNoneMatch: header(request, 'if-none-match'),
    ifModifiedSince: header(request, 'if-modified-since'),
    ifRange: header(request, 'if-range'),
    accept: header(request, 'accept'),
    signal: abort.signal,
    requestId: request.id,
  };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
