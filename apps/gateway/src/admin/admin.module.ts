import { Module } from '@nestjs/common';
import { FetchingModule } from '../fetching/fetching.module';
import { ServingModule } from '../serving/serving.module';
import { CacheFlushService } from './cache-flush.service';
import { FlushController } from './flush.controller';
import { QueueInspectionService } from './queues/queue-inspection.service';
import { QueuesController } from './queues/queues.controller';

@Module({
  imports: [FetchingModule, ServingModule],
  controllers: [FlushController, QueuesController],
  providers: [CacheFlushService, QueueInspectionService],
})
export class AdminModule {}
