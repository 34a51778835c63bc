import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { FETCH_QUEUE } from '@app/jobs';
import { QueueDepthCollector } from './queue-depth.collector';

@Module({
  imports: [BullModule.registerQueue({ name: FETCH_QUEUE })],
  providers: [QueueDepthCollector],
})
export class QueueMetricsModule {}
