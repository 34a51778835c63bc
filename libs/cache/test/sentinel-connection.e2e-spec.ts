import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { RedisConfig } from '@app/config';
import { bullConnectionOptions, createRedisConnection } from '../src/redis.provider';
import { requireEnv } from '../../../test/helpers/isolated-services';
import { SentinelGroup } from '../../../test/helpers/sentinel-group';
import { waitFor } from '../../../tools/wait-for';

/** Clients of each kind: the stale-detector race of ioredis 5.11 hit some of 10 in most runs. */
const CLIENTS = 10;

/**
 * The connections every app builds from REDIS_SENTINELS (request path, BullMQ queue, worker and
 * queue events) against a real Sentinel group whose primary is killed: each must end up on the new
 * primary by itself, and none may be left behind once closed.
 */
describe('Redis connections through Sentinel', () => {
  let group: SentinelGroup;
  let config: RedisConfig;

  beforeAll(async () => {
    group = await SentinelGroup.start({
      dir: join(requireEnv('TEST_TMP_DIR'), `sentinel-${randomBytes(3).toString('hex')}`),
      downAfterMs: 1000,
      failoverTimeoutMs: 3000,
    });
    config = {
      mode: 'sentinel',
      sentinels: group.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      name: group.name,
      username: null,
      password: group.password,
      db: 1,
      sentinelPassword: group.sentinelPassword,
    };
  });

  afterAll(async () => {
    await group?.stop();
  });

  it('follows a killed primary to the promoted replica, and leaves nothing open when closed', async () => {
    const requestPath = Array.from({ length: CLIENTS }, () => {
      const redis = createRedisConnection(config);
      redis.on('error', () => undefined);
      return redis;
    });
    const queueName = `sentinel-${randomBytes(3).toString('hex')}`;
    const connection = bullConnectionOptions(config);
    const queues = Array.from({ length: CLIENTS }, () => new Queue(queueName, { connection }));
    const events = new QueueEvents(queueName, { connection });
    const worker = new Worker(queueName, (job) => Promise.resolve(`done ${job.id}`), {
      connection,
    });
    queues.forEach((q) => q.on('error', () => undefined));
    events.on('error', () => undefined);
    worker.on('error', () => undefined);
    try {
      await Promise.all([
        ...queues.map((q) => q.waitUntilReady()),
        events.waitUntilReady(),
        worker.waitUntilReady(),
      ]);
      // Request-path connections refuse commands until connected (no offline queue).
      await waitFor(() => requestPath.every((r) => r.status === 'ready'), {
        description: 'the request-path connections to connect',
      });
      const oldPrimary = group.primary;
      const newPrimary = group.replica.port;

      process.kill(oldPrimary.pid, 'SIGKILL');
      await waitFor(async () => (await group.primaryPorts()).every((p) => p === newPrimary), {
        description: `the sentinels to promote :${newPrimary}`,
        timeoutMs: 30_000,
        intervalMs: 100,
      });

      // Every request-path connection answers again, from the new primary.
      await waitFor(
        async () => {
          const ports = await Promise.all(
            requestPath.map(async (r) => {
              await r.ping();
              return Number(/tcp_port:(\d+)/.exec(await r.info('server'))![1]);
            }),
          );
          if (!ports.every((p) => p === newPrimary)) {
            throw new Error(`connected to ${ports.join(', ')}`);
          }
          return true;
        },
        { description: 'every request-path connection on the new primary', timeoutMs: 30_000 },
      );
      expect(requestPath.map((r) => r.status)).toEqual(requestPath.map(() => 'ready'));

      // Every queue adds on the new primary; the worker runs the jobs and the events stream reports
      // each completion: none of their connections ended during the failover.
      const jobs = await Promise.all(queues.map((q, i) => q.add('after-failover', { i })));
      await Promise.all(
        jobs.map((job) =>
          waitFor(async () => (await job.getState()) === 'completed', {
            description: `job ${job.id} to complete`,
            timeoutMs: 30_000,
            intervalMs: 100,
          }),
        ),
      );
      await Promise.all(jobs.map((job) => job.waitUntilFinished(events, 30_000)));
    } finally {
      await Promise.all([worker.close(), events.close(), ...queues.map((q) => q.close())]);
      await Promise.all(requestPath.map((r) => r.quit()));
    }

    // Closed (BullMQ closes with QUIT), no connection keeps a failover subscription open.
    await waitFor(
      async () => {
        const lists = await Promise.all(
          group.sentinels.map(async (sentinel) => {
            const client = new Redis({
              host: '127.0.0.1',
              port: sentinel.port,
              password: group.sentinelPassword,
              maxRetriesPerRequest: 1,
            });
            try {
              return String(await client.call('CLIENT', 'LIST')).split('\n');
            } finally {
              client.disconnect();
            }
          }),
        );
        // Sentinels talk to each other without subscribing (flags=N); an app's failover detector
        // subscribes to +switch-master (flags=P).
        const subscribed = lists.flat().filter((line) => / flags=\S*P/.test(line));
        if (subscribed.length > 0) {
          throw new Error(`still subscribed:\n${subscribed.join('\n')}`);
        }
        return true;
      },
      { description: 'the sentinels to see the subscriptions go', timeoutMs: 5_000 },
    );
  });
});
