import { Module } from '@nestjs/common';
import { HealthModule } from '@app/health';
import { AdminModule } from '../admin/admin.module';
import { HostedModule } from '../hosted/hosted.module';
import { ServingModule } from '../serving/serving.module';
import { ConsoleData } from './console-data.service';
import { ConsoleController } from './console.controller';
import { TrafficWindow } from './traffic-window.service';

/** The web console at /admin (docs/OPERATIONS.md "Console"). */
@Module({
  imports: [AdminModule, HostedModule, ServingModule, HealthModule],
  controllers: [ConsoleController],
  providers: [ConsoleData, TrafficWindow],
})
export class ConsoleModule {}
