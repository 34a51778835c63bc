import { Module } from '@nestjs/common';
import { CacheFlushService } from './cache-flush.service';
import { FlushController } from './flush.controller';

@Module({
  controllers: [FlushController],
  providers: [CacheFlushService],
})
export class AdminModule {}
