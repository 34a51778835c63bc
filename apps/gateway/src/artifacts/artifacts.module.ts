import { Module } from '@nestjs/common';
import { FetchingModule } from '../fetching/fetching.module';
import { StoredFileService } from '../serving/stored-file.service';
import { ArtifactsController } from './artifacts.controller';
import { ArtifactsService } from './artifacts.service';

@Module({
  imports: [FetchingModule],
  controllers: [ArtifactsController],
  providers: [ArtifactsService, StoredFileService],
})
export class ArtifactsModule {}
