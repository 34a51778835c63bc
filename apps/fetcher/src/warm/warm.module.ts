import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { FETCH_QUEUES, WARM_QUEUE } from '@app/jobs';
import { WarmProcessor } from './warm.processor';
import { WarmService } from './warm.service';

@Module({
  imports: [BullModule.registerQueue(...[...FETCH_QUEUES, WARM_QUEUE].map((name) => ({ name })))],
  providers: [WarmProcessor, WarmService],
})
export class WarmModule {}
