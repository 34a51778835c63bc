import { Module } from '@nestjs/common';
import { EvictionService } from './eviction.service';

/** Needs the global config, storage, Redis, database and metrics modules of the app. */
@Module({
  providers: [EvictionService],
  exports: [EvictionService],
})
export class EvictionModule {}
