import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { FETCH_QUEUES } from '@app/jobs';
import { FetchCoordinator } from './fetch-coordinator.service';
import { FetchEventsService } from './fetch-events.service';
import { FetchQueues } from './fetch-queues.service';
import { FetcherPresence } from './fetcher-presence.service';
import { InflightStreamClient } from './inflight-stream.client';

@Module({
  imports: [BullModule.registerQueue(...FETCH_QUEUES.map((name) => ({ name })))],
  providers: [
    FetchCoordinator,
    FetchEventsService,
    FetchQueues,
    FetcherPresence,
    InflightStreamClient,
  ],
  exports: [FetchCoordinator, FetchEventsService, FetchQueues, BullModule],
})
export class FetchingModule {}
