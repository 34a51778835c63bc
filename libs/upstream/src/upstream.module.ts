import { Global, Module } from '@nestjs/common';
import { BasicUpstreamAuth, UPSTREAM_AUTH } from './upstream-auth';
import { UpstreamClient } from './upstream.client';

@Global()
@Module({
  providers: [{ provide: UPSTREAM_AUTH, useClass: BasicUpstreamAuth }, UpstreamClient],
  exports: [UpstreamClient, UPSTREAM_AUTH],
})
export class UpstreamModule {}
