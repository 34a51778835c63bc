import { Global, Module } from '@nestjs/common';
import { ArtifactRecordsService } from './artifact-records.service';
import { ContentRecordsService } from './content-records.service';
import { DatabaseService } from './database.service';
import { DeferredWrites } from './deferred-writes.service';
import { HitRecorder } from './hit-recorder.service';
import { HostedRecordsService } from './hosted-records.service';

@Global()
@Module({
  providers: [
    DatabaseService,
    ArtifactRecordsService,
    ContentRecordsService,
    DeferredWrites,
    HitRecorder,
    HostedRecordsService,
  ],
  exports: [
    DatabaseService,
    ArtifactRecordsService,
    ContentRecordsService,
    DeferredWrites,
    HitRecorder,
    HostedRecordsService,
  ],
})
export class DbModule {}
