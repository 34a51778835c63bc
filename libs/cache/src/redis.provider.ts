import { Redis, type RedisOptions } from 'ioredis';

export const REDIS = Symbol('REDIS');

/**
 * A connection for request-path commands. It fails fast instead of queueing while Redis is down
 * (the gateway must answer from storage or with 503, not hang), and reconnects by itself.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    ...options,
  });
}

/** Connection options BullMQ needs for workers and queue events (blocking commands). */
export function bullConnectionOptions(url: string): RedisOptions & { url: string } {
  return {
    url,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  };
}
