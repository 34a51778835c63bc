import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { tokenFingerprint } from '../admin/admin-token';
import type { RequestLog } from './request-log';
import { labelsOf, routeOf } from './request-labels';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Who made a request that carried no Authorization header but was let in otherwise (the
 * console's session): the token fingerprint its audit line names.
 */
export const auditedAs = new WeakMap<IncomingMessage, string>();

/**
 * Every request's id goes back in X-Request-Id; once answered, it gets its access line, and one
 * that changes something (PUT, POST, DELETE: uploads, deletes, flushes, purges, admin actions)
 * an audit line naming who asked.
 */
export function registerRequestLog(fastify: FastifyInstance, log: RequestLog): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const path = request.url.split('?')[0];
    const labels = labelsOf(request.raw) ?? { remote: '-', route: routeOf(request.url) };
    const source = reply.getHeader('x-artifact-source');
    const length = Number(reply.getHeader('content-length'));
    log.access({
      requestId: request.id,
      method: request.method,
      path,
      remote: labels.remote,
      route: labels.route,
      source: typeof source === 'string' ? source : '-',
      status: reply.statusCode,
      bytes: Number.isFinite(length) ? length : null,
      completed: reply.raw.writableFinished,
      seconds: reply.elapsedTime / 1000,
    });
    if (!READS.has(request.method)) {
      log.audit({
        requestId: request.id,
        method: request.method,
        path,
        status: reply.statusCode,
        who: auditedAs.get(request.raw) ?? tokenFingerprint(request.headers.authorization),
      });
    }
    done();
  });
}
