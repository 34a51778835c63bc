import { Module } from '@nestjs/common';
import { FetchingModule } from '../fetching/fetching.module';
import { MemoryHits } from './memory-hits.service';
import { PullThroughService } from './pull-through.service';
import { RemoteStates } from './remote-states.service';
import { StoredFileService } from './stored-file.service';

@Module({
  imports: [FetchingModule],
  providers: [PullThroughService, StoredFileService, MemoryHits, RemoteStates],
  exports: [PullThroughService, StoredFileService, MemoryHits, RemoteStates],
})
export class ServingModule {}
