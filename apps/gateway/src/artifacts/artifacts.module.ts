import { Module } from '@nestjs/common';
import { HostedModule } from '../hosted/hosted.module';
import { ServingModule } from '../serving/serving.module';
import { ArtifactsController } from './artifacts.controller';
import { ArtifactsService } from './artifacts.service';

@Module({
  imports: [ServingModule, HostedModule],
  controllers: [ArtifactsController],
  providers: [ArtifactsService],
  exports: [ArtifactsService],
})
export class ArtifactsModule {}
