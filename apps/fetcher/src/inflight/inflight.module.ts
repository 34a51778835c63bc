import { Module } from '@nestjs/common';
import { InflightController } from './inflight.controller';
import { InflightRegistry } from './inflight.registry';

@Module({
  controllers: [InflightController],
  providers: [InflightRegistry],
  exports: [InflightRegistry],
})
export class InflightModule {}
