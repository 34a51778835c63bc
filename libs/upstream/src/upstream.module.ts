import { Global, Module } from '@nestjs/common';
import { UPSTREAM_AUTH } from './upstream-auth';
import { TokenUpstreamAuth } from './token-upstream.auth';
import { UpstreamClient } from './upstream.client';
import { UpstreamGate } from './upstream-gate';
import { UpstreamHealth } from './upstream-health';

@Global()
@Module({
  providers: [
    { provide: UPSTREAM_AUTH, useClass: TokenUpstreamAuth },
    UpstreamGate,
    UpstreamHealth,
    UpstreamClient,
  ],
  exports: [UpstreamClient, UPSTREAM_AUTH],
})
export class UpstreamModule {}
