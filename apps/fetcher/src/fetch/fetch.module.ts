import { Module } from '@nestjs/common';
import { InflightModule } from '../inflight/inflight.module';
import { FetchProcessor } from './fetch.processor';
import { FetchService } from './fetch.service';

@Module({ imports: [InflightModule], providers: [FetchProcessor, FetchService] })
export class FetchModule {}
