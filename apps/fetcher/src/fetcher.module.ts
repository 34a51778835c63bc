import { type DynamicModule, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { CacheModule, bullConnectionOptions } from '@app/cache';
import { type AppConfig, ConfigModule } from '@app/config';
import { DbModule } from '@app/db';
import { HealthModule } from '@app/health';
import { MetricsModule } from '@app/metrics';
import { StorageModule } from '@app/storage';
import { UpstreamModule } from '@app/upstream';
import { EvictionScheduleModule } from './eviction/eviction-schedule.module';
import { FetchModule } from './fetch/fetch.module';
import { JanitorModule } from './janitor/janitor.module';
import { QueueMetricsModule } from './metrics/queue-metrics.module';
import { WarmModule } from './warm/warm.module';

@Module({})
export class FetcherModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: FetcherModule,
      imports: [
        ConfigModule.forRoot(config),
        StorageModule,
        CacheModule,
        DbModule,
        MetricsModule,
        BullModule.forRoot({ connection: bullConnectionOptions(config.redis) }),
        UpstreamModule,
        HealthModule,
        FetchModule,
        JanitorModule,
        EvictionScheduleModule,
        QueueMetricsModule,
        WarmModule,
      ],
    };
  }
}
