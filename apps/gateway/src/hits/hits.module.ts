import { Module } from '@nestjs/common';
import { ArtifactsModule } from '../artifacts/artifacts.module';
import { RegistryModule } from '../registry/registry.module';
import { ServingModule } from '../serving/serving.module';
import { RequestLog } from '../http/request-log';
import { HitRoute } from './hit-route';

@Module({
  imports: [ArtifactsModule, RegistryModule, ServingModule],
  providers: [HitRoute, RequestLog],
  exports: [RequestLog],
})
export class HitsModule {}
