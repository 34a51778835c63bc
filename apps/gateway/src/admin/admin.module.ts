import { Module } from '@nestjs/common';
import { EvictionModule } from '@app/eviction';
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

@Module({
  imports: [FetchingModule, ServingModule, EvictionModule],
  controllers: [FlushController, QueuesController, RemotesController, StorageController],
  providers: [CacheFlushService, CachePurgeService, QueueInspectionService, StorageUsageService],
})
export class AdminModule {}
