import type { RedisOptions } from 'ioredis';
import type { RedisConfig } from '@app/config';
import { StreamScopedSentinelConnector } from './sentinel-connector';

/**
 * The part of every connection's options that says where Redis is: the configured URL as it is
 * written (`url`, for ioredis' first argument or BullMQ's `connection.url`), or the sentinels to
 * ask for the current primary. Connection builders add their own timeouts and retry policy.
 */
export function redisTarget(config: RedisConfig): RedisOptions & { url?: string } {
  if (config.mode === 'standalone') {
    return { url: config.url };
  }
  return {
    // Copied: the config is frozen and ioredis adds the sentinels it discovers to this array.
    sentinels: config.sentinels.map(({ host, port }) => ({ host, port })),
    name: config.name,
    db: config.db,
    ...(config.username !== null && { username: config.username }),
    ...(config.password !== null && { password: config.password }),
    ...(config.sentinelPassword !== null && { sentinelPassword: config.sentinelPassword }),
    // A primary that crashes closes its sockets, and every reconnect asks the sentinels again; one
    // that a failover demotes while running has its clients killed by the sentinels. A primary that
    // hangs or is cut off (host down, partition) closes nothing: without the detector, which drops
    // the connection on the sentinels' +switch-master, workers and queue events stayed blocked on
    // a SIGSTOPped primary long after a replica had taken over. Role-change replies are the net
    // under both.
    failoverDetector: true,
    Connector: StreamScopedSentinelConnector,
    reconnectOnError: reconnectOnRoleChange,
  };
}

/**
 * ioredis' `reconnectOnError`: 2 means reconnect (asking the sentinels for the primary again)
 * and send the command once more. Redis 7 replies `READONLY You can't write against a read only
 * replica.` to a write (a script's too) on a demoted primary, which did not execute it, and
 * `UNBLOCKED force unblock from blocking operation, instance state changed` to the blocking
 * commands it was holding (a worker's BZPOPMIN, the queue events' XREAD): all safe to repeat.
 */
export function reconnectOnRoleChange(error: Error): 2 | false {
  return /^(READONLY|UNBLOCKED) /.test(error.message) ? 2 : false;
}
