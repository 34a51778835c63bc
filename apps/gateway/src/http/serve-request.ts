import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServeRequest } from '../serving/serve-plan';

/** The request parts that shape an artifact answer, with a signal that fires if the client leaves. */
export function serveRequestOf(request: FastifyRequest, reply: FastifyReply): ServeRequest {
  return {
    method: request.method === 'HEAD' ? 'HEAD' : 'GET',
    range: header(request, 'range'),
    ifNoneMatch: header(request, 'if-none-match'),
    ifModifiedSince: header(request, 'if-modified-since'),
    ifRange: header(request, 'if-range'),
    accept: header(request, 'accept'),
    signal: clientGone(reply),
    requestId: request.id,
  };
}

/** Fires when the client leaves before its answer was sent. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) {
      abort.abort();
    }
  });
  return abort.signal;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
