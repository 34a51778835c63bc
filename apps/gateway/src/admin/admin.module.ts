import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { EvictionModule } from '@app/eviction';
import { WARM_QUEUE } from '@app/jobs';
import { FetchingModule } from '../fetching/fetching.module';
import { ServingModule } from '../serving/serving.module';
import { CacheFlushService } from './cache-flush.service';
import { CachePurgeService } from './cache-purge.service';
import { FlushController } from './flush.controller';
import { QueueInspectionService } from './queues/queue-inspection.service';
import { QueuesController } from './queues/queues.controller';
import { RemotesController } from './remotes.controller';
import { StorageUsageService } from './storage-usage.service';
import { StorageController } from './storage.controller';
import { WarmController } from './warm/warm.controller';
import { WarmUps } from './warm/warm-ups.service';

@Module({
  imports: [
    FetchingModule,
    ServingModule,
    EvictionModule,
    BullModule.registerQueue({ name: WARM_QUEUE }),
  ],
  controllers: [
    FlushController,
    QueuesController,
    RemotesController,
    StorageController,
    WarmController,
  ],
  providers: [
    CacheFlushService,
    CachePurgeService,
    QueueInspectionService,
    StorageUsageService,
    WarmUps,
  ],
  exports: [
    CacheFlushService,
    CachePurgeService,
    QueueInspectionService,
    StorageUsageService,
    WarmUps,
  ],
})
export class AdminModule {}
