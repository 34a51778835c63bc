import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '@app/config';
import { redisTarget } from './redis-target';

export const REDIS = Symbol('REDIS');

/**
 * Longest a request-path Redis command may take. A partitioned Redis (its connections stay open,
 * nothing answers) must cost a client two seconds and a 503 or a stale copy, never a hang.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

const CONNECT_TIMEOUT_MS = 2000;

function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 200, 2000);
}

/**
 * A connection for request-path commands. It fails fast instead of queueing while Redis is down
 * (the gateway must answer from storage or with 503, not hang), and reconnects by itself.
 */
export function createRedisConnection(redis: RedisConfig, options: RedisOptions = {}): Redis {
  const { url, ...target } = redisTarget(redis);
  const merged: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    ...options,
    ...target,
  };
  return url === undefined ? new Redis(merged) : new Redis(url, merged);
}

/**
 * A pub/sub subscriber: no command timeout (a subscription waits by design), and its SUBSCRIBE
 * queued until the first connection and again after every reconnect.
 */
export function createSubscriberConnection(redis: RedisConfig): Redis {
  const subscriber = createRedisConnection(redis, {
    enableOfflineQueue: true,
    commandTimeout: undefined,
    maxRetriesPerRequest: null,
  });
  subscriber.on('error', () => undefined);
  return subscriber;
}

/**
 * The gateway's BullMQ Queue (producer) connection: adds and job lookups fail at once while Redis
 * is down and after REDIS_COMMAND_TIMEOUT_MS while it is partitioned, instead of queueing in
 * ioredis on behalf of a client that has stopped waiting.
 */
export function queueConnectionOptions(redis: RedisConfig): RedisOptions & { url?: string } {
  return {
    ...redisTarget(redis),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
  };
}

/**
 * Connection options BullMQ needs for workers and queue events (blocking commands, so no command
 * timeout: a BZPOPMIN or XREAD legitimately waits).
 */
export function bullConnectionOptions(redis: RedisConfig): RedisOptions & { url?: string } {
  return {
    ...redisTarget(redis),
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
  };
}
