import { Module } from '@nestjs/common';
import { FetchingModule } from '../fetching/fetching.module';
import { MemoryHits } from './memory-hits.service';
import { PullThroughService } from './pull-through.service';
import { StoredFileService } from './stored-file.service';

@Module({
  imports: [FetchingModule],
  providers: [PullThroughService, StoredFileService, MemoryHits],
  exports: [PullThroughService, StoredFileService, MemoryHits],
})
export class ServingModule {}
