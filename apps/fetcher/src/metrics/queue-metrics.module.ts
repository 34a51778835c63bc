import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { FETCH_QUEUES } from '@app/jobs';
import { QueueDepthCollector } from './queue-depth.collector';

@Module({
  imports: [BullModule.registerQueue(...FETCH_QUEUES.map((name) => ({ name })))],
  providers: [QueueDepthCollector],
})
export class QueueMetricsModule {}
