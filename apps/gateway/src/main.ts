import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { exitOnFatal, forceExitAfterGrace } from '@app/common';
import { type AppConfig, loadAppConfig } from '@app/config';
import { ApiExceptionFilter } from './errors/api-exception.filter';
import { GatewayModule } from './gateway.module';
import { registerRequestMetrics } from './http/request-metrics.hook';
import { MetricsService } from '@app/metrics';

async function bootstrap(config: AppConfig): Promise<void> {
  const adapter = new FastifyAdapter({
    routerOptions: {
      // Paths up to 1024 bytes are valid artifact paths (SPEC §5); longer ones get a clean 400.
      maxParamLength: 4096,
      // `GET /v2/` is the registry ping; Nest maps the controller's root as `/v2`.
      ignoreTrailingSlash: true,
    },
    trustProxy: true,
    // HEAD is routed explicitly: the automatic HEAD route would overwrite Content-Length with 0.
    exposeHeadRoutes: false,
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    GatewayModule.forRoot(config),
    adapter,
  );
  app.useGlobalFilters(new ApiExceptionFilter());
  registerRequestMetrics(app.getHttpAdapter().getInstance(), app.get(MetricsService));
  app.enableShutdownHooks();
  forceExitAfterGrace();
  await app.listen(config.port, config.host);
}

let config: AppConfig;
try {
  config = loadAppConfig();
} catch (error) {
  exitOnFatal('invalid configuration', error);
}
bootstrap(config).catch((error) => exitOnFatal('gateway failed to start', error));
