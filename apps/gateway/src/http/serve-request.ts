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

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The URL a client reached the cache at, for links the cache writes into what it serves:
 * PUBLIC_URL when set, else the request's X-Forwarded-Proto / X-Forwarded-Host (a proxy in
 * front) or Host. A malformed host falls back to the address the request came in on.
 */
export function clientOrigin(request: FastifyRequest, publicUrl: string | null): string {
  if (publicUrl !== null) {
    return publicUrl;
  }
  const forwardedProto = firstOf(header(request, 'x-forwarded-proto'))?.toLowerCase();
  const proto = forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : 'http';
  const host = firstOf(header(request, 'x-forwarded-host')) ?? header(request, 'host');
  if (host !== undefined && HOST.test(host)) {
    return `${proto}://${host}`;
  }
  const local = request.raw.socket.localAddress ?? '127.0.0.1';
  const address = local.includes(':') ? `[${local}]` : local;
  return `${proto}://${address}:${request.raw.socket.localPort ?? 80}`;
}

function firstOf(list: string | undefined): string | undefined {
  return list?.split(',')[0].trim() || undefined;
}
