import { Module } from '@nestjs/common';
import { InflightModule } from '../inflight/inflight.module';
import { JanitorService } from './janitor.service';

@Module({ imports: [InflightModule], providers: [JanitorService] })
export class JanitorModule {}
