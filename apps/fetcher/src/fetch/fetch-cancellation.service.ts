import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createSubscriberConnection } from '@app/cache';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { FETCH_CANCEL_CHANNEL } from '@app/jobs';
import { FetchProcessor, MetadataFetchProcessor } from './fetch.processor';

/**
 * Operators cancel a running fetch from the queue API: a gateway publishes the job id on
 * FETCH_CANCEL_CHANNEL, and the fetcher that runs it aborts it (the job then fails as
 * `cancelled`, and can be retried or removed like any failed job). Without this a stuck fetch
 * holds its lock until its fetcher is restarted.
 */
@Injectable()
export class FetchCancellation implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(FetchCancellation.name);
  private subscriber: Redis | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly content: FetchProcessor,
    private readonly metadata: MetadataFetchProcessor,
  ) {}

  onModuleInit(): void {
    const subscriber = createSubscriberConnection(this.config.redis);
    subscriber.on('message', (_channel: string, jobId: string) => {
      if (this.content.cancel(jobId) || this.metadata.cancel(jobId)) {
        this.logger.warn(`fetch job ${jobId} cancelled by an operator`);
      }
    });
    void subscriber.subscribe(FETCH_CANCEL_CHANNEL).catch((error: Error) => {
      this.logger.warn(`cannot subscribe to cancellations: ${error.message}`);
    });
    this.subscriber = subscriber;
  }

  onApplicationShutdown(): void {
    this.subscriber?.disconnect();
  }
}
