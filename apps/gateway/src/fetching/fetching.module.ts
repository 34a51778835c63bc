import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { FETCH_QUEUE } from '@app/jobs';
import { FetchCoordinator } from './fetch-coordinator.service';
import { FetchEventsService } from './fetch-events.service';
import { FetcherPresence } from './fetcher-presence.service';
import { InflightStreamClient } from './inflight-stream.client';

@Module({
  imports: [BullModule.registerQueue({ name: FETCH_QUEUE })],
  providers: [FetchCoordinator, FetchEventsService, FetcherPresence, InflightStreamClient],
  exports: [FetchCoordinator, FetchEventsService, BullModule],
})
export class FetchingModule {}
