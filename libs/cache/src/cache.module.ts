import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { CacheStateService } from './cache-state.service';
import { CircuitBreaker } from './circuit-breaker.service';
import { PathLockService } from './path-lock.service';
import { ReplicationBarrier } from './replication-barrier.service';
import { REDIS, createRedisConnection } from './redis.provider';
import { UpstreamLimits } from './upstream-limits.service';

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => {
        const redis = createRedisConnection(config.redis);
        // Without a listener ioredis reports every reconnect attempt as an unhandled error.
        redis.on('error', () => undefined);
        return redis;
      },
    },
    CacheStateService,
    CircuitBreaker,
    PathLockService,
    ReplicationBarrier,
    UpstreamLimits,
  ],
  exports: [
    REDIS,
    CacheStateService,
    CircuitBreaker,
    PathLockService,
    ReplicationBarrier,
    UpstreamLimits,
  ],
})
export class CacheModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
