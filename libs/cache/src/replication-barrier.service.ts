import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { REDIS } from './redis.provider';

/** Longest a fetch waits for a replica to confirm; past it the fetch goes ahead unconfirmed. */
const REPLICA_ACK_TIMEOUT_MS = 500;
const BARRIER_KEY = 'ac:replication-barrier';

/**
 * With Sentinel, Redis replicates asynchronously: a job taken by a fetcher just before the
 * primary dies may reach the new primary as still waiting (or not at all), and a second fetcher
 * would download it again. A fetcher therefore writes once and WAITs for one replica before it
 * asks the upstream: the replication stream is ordered, so the replica then also holds the job's
 * add and its move to active. Without Sentinel there is no replica to wait for.
 */
@Injectable()
export class ReplicationBarrier {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** Resolves once a replica holds every write made so far, or after a short deadline. */
  async settle(): Promise<void> {
    if (this.config.redis.mode !== 'sentinel') {
      return;
    }
    try {
      await this.redis.set(BARRIER_KEY, String(Date.now()), 'PX', 60_000);
      await this.redis.wait(1, REPLICA_ACK_TIMEOUT_MS);
    } catch {
      // Redis is failing over: the job's own commands will tell, not this.
    }
  }
}
