import type { FastifyInstance } from 'fastify';
import type { ArtifactSource, MetricsService } from '@app/metrics';
import { labelsOf, routeOf } from './request-labels';

const SOURCES = new Set<string>(['cache', 'remote', 'stale', 'local']);

/**
 * Counts every request once it is answered (to the last byte), with the bounded labels its route
 * set, and the bytes served per source.
 */
export function registerRequestMetrics(fastify: FastifyInstance, metrics: MetricsService): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const labels = labelsOf(request.raw) ?? { remote: '-', route: routeOf(request.url) };
    const sourceHeader = reply.getHeader('x-artifact-source');
    const source =
      typeof sourceHeader === 'string' && SOURCES.has(sourceHeader)
        ? (sourceHeader as ArtifactSource)
        : 'none';
    metrics.request(
      labels.remote,
      labels.route,
      source,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    const length = Number(reply.getHeader('content-length'));
    if (
      source !== 'none' &&
      request.method === 'GET' &&
      reply.statusCode < 300 &&
      length > 0 &&
      reply.raw.writableFinished
    ) {
      metrics.served(labels.remote, source, length);
    }
    done();
  });
}
