import 'reflect-metadata';
import cluster from 'node:cluster';
import multipart from '@fastify/multipart';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppLogger, exitOnFatal, forceExitAfterGrace } from '@app/common';
import { type AppConfig, loadAppConfig } from '@app/config';
import { MetricsService, answerClusterMetrics } from '@app/metrics';
import { AdminTokenCheck } from './admin/admin-token';
import { registerQueueBoard } from './admin/queues/queue-board';
import { superviseGateways } from './cluster/gateway-supervisor';
import { ApiExceptionFilter } from './errors/api-exception.filter';
import { GatewayModule } from './gateway.module';
import { HitRoute } from './hits/hit-route';
import { requestIdOf } from './http/request-id';
import { RequestLog } from './http/request-log';
import { registerRequestLog } from './http/request-log.hook';
import { registerRequestMetrics } from './http/request-metrics.hook';

async function bootstrap(config: AppConfig): Promise<void> {
  const adapter = new FastifyAdapter({
    routerOptions: {
      // Paths up to 1024 bytes are valid artifact paths (docs/CACHING.md); longer ones get a clean 400.
      maxParamLength: 4096,
      // `GET /v2/` is the registry ping; Nest maps the controller's root as `/v2`.
      ignoreTrailingSlash: true,
    },
    trustProxy: true,
    genReqId: requestIdOf,
    // HEAD is routed explicitly: the automatic HEAD route would overwrite Content-Length with 0.
    exposeHeadRoutes: false,
    return503OnClosing: true,
  });
  // No body parsing at all: uploads are streamed to storage, and nothing is read before the admin
  // token is checked. Multipart only marks the request; the handler reads the `file` part.
  const app = await NestFactory.create<NestFastifyApplication>(
    GatewayModule.forRoot(config),
    adapter,
    { bodyParser: false, logger: new AppLogger({ app: 'gateway', ...config.log }) },
  );
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null));
  await app.register(multipart);
  await registerQueueBoard(app, new AdminTokenCheck(config.adminToken), config.adminToken);
  app.useGlobalFilters(new ApiExceptionFilter());
  registerRequestMetrics(fastify, app.get(MetricsService));
  registerRequestLog(fastify, app.get(RequestLog));
  app.get(HitRoute).attach(fastify.server);
  app.enableShutdownHooks();
  forceExitAfterGrace();
  await app.listen(config.port, config.host);
}

let config: AppConfig;
try {
  config = loadAppConfig();
} catch (error) {
  exitOnFatal('gateway', error);
}
if (config.gatewayProcesses > 1 && cluster.isPrimary) {
  superviseGateways(config.gatewayProcesses);
} else {
  if (cluster.isWorker) {
    answerClusterMetrics();
  }
  bootstrap(config).catch((error) => exitOnFatal('gateway: failed to start', error));
}
