import { type DynamicModule, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { CacheModule, queueConnectionOptions } from '@app/cache';
import { type AppConfig, ConfigModule } from '@app/config';
import { DbModule } from '@app/db';
import { HealthModule } from '@app/health';
import { MetricsModule } from '@app/metrics';
import { StorageModule } from '@app/storage';
import { UpstreamModule } from '@app/upstream';
import { AdminModule } from './admin/admin.module';
import { ArtifactsModule } from './artifacts/artifacts.module';
import { ConsoleModule } from './console/console.module';
import { HitsModule } from './hits/hits.module';
import { DocsModule } from './docs/docs.module';
import { HostedModule } from './hosted/hosted.module';
import { InfoModule } from './info/info.module';
import { RegistryModule } from './registry/registry.module';

@Module({})
export class GatewayModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(config),
        StorageModule,
        CacheModule,
        DbModule,
        MetricsModule,
        BullModule.forRoot({ connection: queueConnectionOptions(config.redis) }),
        UpstreamModule,
        HealthModule,
        InfoModule,
        RegistryModule,
        ArtifactsModule,
        HostedModule,
        AdminModule,
        ConsoleModule,
        DocsModule,
        HitsModule,
      ],
    };
  }
}
