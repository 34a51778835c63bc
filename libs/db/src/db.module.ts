import { Global, Module } from '@nestjs/common';
import { ArtifactRecordsService } from './artifact-records.service';
import { DatabaseService } from './database.service';
import { HitRecorder } from './hit-recorder.service';

@Global()
@Module({
  providers: [DatabaseService, ArtifactRecordsService, HitRecorder],
  exports: [DatabaseService, ArtifactRecordsService, HitRecorder],
})
export class DbModule {}
