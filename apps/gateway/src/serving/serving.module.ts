import { Module } from '@nestjs/common';
import { FetchingModule } from '../fetching/fetching.module';
import { PullThroughService } from './pull-through.service';
import { StoredFileService } from './stored-file.service';

@Module({
  imports: [FetchingModule],
  providers: [PullThroughService, StoredFileService],
  exports: [PullThroughService, StoredFileService],
})
export class ServingModule {}
