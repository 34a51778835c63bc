import { Module } from '@nestjs/common';
import { EvictionModule } from '@app/eviction';
import { EvictionScheduler } from './eviction-scheduler';

@Module({ imports: [EvictionModule], providers: [EvictionScheduler] })
export class EvictionScheduleModule {}
