import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '@app/config';
import { redisTarget } from './redis-target';

export const REDIS = Symbol('REDIS');

/**
 * A connection for request-path commands. It fails fast instead of queueing while Redis is down
 * (the gateway must answer from storage or with 503, not hang), and reconnects by itself.
 */
export function createRedisConnection(redis: RedisConfig, options: RedisOptions = {}): Redis {
  const { url, ...target } = redisTarget(redis);
  const merged: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    ...options,
    ...target,
  };
  return url === undefined ? new Redis(merged) : new Redis(url, merged);
}

/** Connection options BullMQ needs for workers and queue events (blocking commands). */
export function bullConnectionOptions(redis: RedisConfig): RedisOptions & { url?: string } {
  return {
    ...redisTarget(redis),
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  };
}
