import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppLogger, exitOnFatal, forceExitAfterGrace } from '@app/common';
import { type AppConfig, loadAppConfig } from '@app/config';
import { FetcherModule } from './fetcher.module';

async function bootstrap(config: AppConfig): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(
    FetcherModule.forRoot(config),
    new FastifyAdapter({ return503OnClosing: true }),
    { logger: new AppLogger({ app: 'fetcher', ...config.log }) },
  );
  app.enableShutdownHooks();
  forceExitAfterGrace();
  await app.listen(config.fetcherPort, config.host);
}

let config: AppConfig;
try {
  config = loadAppConfig();
} catch (error) {
  exitOnFatal('fetcher', error);
}
bootstrap(config).catch((error) => exitOnFatal('fetcher: failed to start', error));
