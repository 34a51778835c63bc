import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS, RedisLease } from '@app/cache';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { InflightRegistry } from '../inflight/inflight.registry';

const LEASE_KEY = 'ac:lease:janitor';

/**
 * Removes what interrupted work left behind, older than LEFTOVER_MAX_AGE: storage leftovers
 * (fs `.partial` blobs; S3 staging objects and open multipart uploads) on one fetcher per
 * JANITOR_INTERVAL, under a Redis lease, and on every fetcher the spool directories of dead
 * fetchers on its own machine.
 */
@Injectable()
export class JanitorService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(JanitorService.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** One replica per interval: never released, it expires by itself; a crashed holder blocks nobody. */
  private readonly lease: RedisLease;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(REDIS) redis: Redis,
    private readonly inflight: InflightRegistry,
  ) {
    const ttlMs = Math.max(1000, Math.floor(config.janitorInterval * 1000 * 0.9));
    this.lease = new RedisLease(redis, LEASE_KEY, ttlMs);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.sweep(), this.config.janitorInterval * 1000);
    this.timer.unref();
  }

  /** One sweep; concurrent calls share it. */
  sweep(): Promise<void> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweepOnce(): Promise<void> {
    const olderThan = new Date(Date.now() - this.config.leftoverMaxAge * 1000);
    const spool = await this.inflight.sweepDeadSpools(olderThan).catch((error: Error) => {
      this.logger.warn(`spool sweep failed: ${error.message}`);
      return 0;
    });
    let stored = 0;
    if (await this.lease.acquire()) {
      stored = await this.storage.sweepLeftovers(olderThan).catch((error: Error) => {
        this.logger.warn(`storage sweep failed: ${error.message}`);
        return 0;
      });
    }
    if (spool + stored > 0) {
      this.logger.log(
        `removed ${stored} storage leftovers and ${spool} spool files of dead fetchers (older than ${olderThan.toISOString()})`,
      );
    }
  }

  onApplicationShutdown(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
  }
}
