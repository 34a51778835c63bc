import { Module } from '@nestjs/common';
import { ServingModule } from '../serving/serving.module';
import { HostedController } from './hosted.controller';
import { HostedService } from './hosted.service';

@Module({
  imports: [ServingModule],
  controllers: [HostedController],
  providers: [HostedService],
  exports: [HostedService],
})
export class HostedModule {}
