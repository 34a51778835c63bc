import { Module } from '@nestjs/common';
import { InflightModule } from '../inflight/inflight.module';
import { FetchCancellation } from './fetch-cancellation.service';
import { FetchProcessor, MetadataFetchProcessor } from './fetch.processor';
import { FetchService } from './fetch.service';

@Module({
  imports: [InflightModule],
  providers: [FetchProcessor, MetadataFetchProcessor, FetchService, FetchCancellation],
})
export class FetchModule {}
