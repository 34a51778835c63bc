/**
 * A Redis Sentinel group of its own for failover specs: two data nodes (a primary and its
 * replica) and three sentinels (quorum 2) on free loopback ports, every process started and
 * stopped by PID through the toolkit (tools/). The data nodes and the sentinels are
 * password-protected, so the apps connect the way a production setup makes them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { portFor } from '../../tools/ports';
import { findBinary } from '../../tools/processes';
import {
  type RedisService,
  type Service,
  redisPing,
  startAnswering,
  startRedis,
} from '../../tools/services';
import { waitFor } from '../../tools/wait-for';

export interface SentinelGroupOptions {
  dir: string;
  /** master group name */
  name?: string;
  /** the data nodes' password (requirepass, masterauth) */
  password?: string;
  /** the sentinels' own password */
  sentinelPassword?: string;
  /** Sentinel's `down-after-milliseconds` */
  downAfterMs?: number;
  /** Sentinel's `failover-timeout` */
  failoverTimeoutMs?: number;
}

const HOST = '127.0.0.1';

/** A sentinel watching one master group; start the primary first (sentinels find each other through it). */
async function startSentinel(options: {
  /** its config file (Sentinel rewrites it as it learns the topology) and its log */
  dataDir: string;
  monitor: { name: string; host: string; port: number; quorum: number };
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  /** the data nodes' password */
  authPass?: string;
  /** this sentinel's own `requirepass` */
  password?: string;
}): Promise<Service> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const port = await portFor(undefined, 'redis-sentinel');
  const { name, host, port: primary, quorum } = options.monitor;
  const config = join(dataDir, 'sentinel.conf');
  const lines = [
    ...[`port ${port}`, `bind ${HOST}`, `dir ${dataDir}`, 'logfile ""'],
    `sentinel monitor ${name} ${host} ${primary} ${quorum}`,
    `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 30_000}`,
    `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 180_000}`,
    `sentinel parallel-syncs ${name} 1`,
    ...(options.authPass === undefined ? [] : [`sentinel auth-pass ${name} ${options.authPass}`]),
    ...(options.password === undefined ? [] : [`requirepass ${options.password}`]),
  ];
  await writeFile(config, `${lines.join('\n')}\n`);
  return startAnswering('redis-sentinel', findBinary('redis-sentinel', 'redis-sentinel'), {
    args: [config],
    logFile: join(dataDir, 'sentinel.log'),
    port,
    probe: () => redisPing(port, options.password),
  });
}

export class SentinelGroup {
  private current: { primary: RedisService; replica: RedisService };

  private constructor(
    readonly name: string,
    readonly password: string,
    readonly sentinelPassword: string,
    readonly nodes: readonly [RedisService, RedisService],
    readonly sentinels: readonly Service[],
  ) {
    this.current = { primary: nodes[0], replica: nodes[1] };
  }

  static async start(options: SentinelGroupOptions): Promise<SentinelGroup> {
    const name = options.name ?? 'artifacts';
    const password = options.password ?? 'data-secret';
    const sentinelPassword = options.sentinelPassword ?? 'sentinel-secret';
    const started: Service[] = [];
    try {
      const primary = await startRedis({ dataDir: join(options.dir, 'node-0'), password });
      started.push(primary);
      const replica = await startRedis({
        dataDir: join(options.dir, 'node-1'),
        password,
        replicaOf: { host: HOST, port: primary.port },
      });
      started.push(replica);
      for (const node of [primary, replica]) {
        // A primary holds a replica's (diskless) full sync back 5 s by default, waiting for more
        // replicas; a primary lost in that time leaves a promoted replica with nothing.
        await withClient(node.port, password, (c) =>
          c.config('SET', 'repl-diskless-sync-delay', '0'),
        );
      }
      const sentinels: Service[] = [];
      for (let i = 0; i < 3; i += 1) {
        const sentinel = await startSentinel({
          dataDir: join(options.dir, `sentinel-${i}`),
          monitor: { name, host: HOST, port: primary.port, quorum: 2 },
          downAfterMs: options.downAfterMs,
          failoverTimeoutMs: options.failoverTimeoutMs,
          authPass: password,
          password: sentinelPassword,
        });
        started.push(sentinel);
        sentinels.push(sentinel);
      }
      const group = new SentinelGroup(
        name,
        password,
        sentinelPassword,
        [primary, replica],
        sentinels,
      );
      await group.waitUntilFormed();
      return group;
    } catch (error) {
      await Promise.allSettled(started.map((s) => s.stop()));
      throw error;
    }
  }

  /** The primary and its replica, as of the last `waitUntilFormed`. */
  get primary(): RedisService {
    return this.current.primary;
  }

  get replica(): RedisService {
    return this.current.replica;
  }

  /** What an app needs to reach the group (REDIS_URL only carries the password and the db). */
  env(db: number): Record<string, string> {
    return {
      REDIS_SENTINELS: this.sentinels.map((s) => `${HOST}:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: this.name,
      REDIS_SENTINEL_PASSWORD: this.sentinelPassword,
      REDIS_URL: `redis://:${this.password}@sentinels/${db}`,
    };
  }

  /** The primary's port as each sentinel reports it. */
  async primaryPorts(): Promise<number[]> {
    return Promise.all(
      this.sentinels.map((s) =>
        withClient(s.port, this.sentinelPassword, async (c) => {
          const reply = (await c.call('SENTINEL', 'get-master-addr-by-name', this.name)) as [
            string,
            string,
          ];
          return Number(reply[1]);
        }),
      ),
    );
  }

  /**
   * Waits until the group can fail over again: every sentinel names the same primary, the other
   * node replicates it and has finished its full sync, and every sentinel sees that replica up
   * and the two other sentinels (quorum and the leader election need them). Sentinels learn all
   * of it from the primary, in a few seconds.
   */
  async waitUntilFormed(timeoutMs = 60_000): Promise<void> {
    const formed = await waitFor(
      async () => {
        const ports = await this.primaryPorts();
        const primary = this.nodes.find((node) => node.port === ports[0]);
        const replica = this.nodes.find((node) => node.port !== ports[0]);
        if (!primary || !replica || ports.some((port) => port !== primary.port)) {
          throw new Error(`sentinels name primaries ${ports.join(', ')}`);
        }
        const replication = await withClient(replica.port, this.password, (c) =>
          c.info('replication'),
        );
        if (
          !replication.includes(`master_port:${primary.port}`) ||
          !replication.includes('master_link_status:up')
        ) {
          throw new Error(`replica :${replica.port} not in sync with :${primary.port}`);
        }
        const views = await Promise.all(
          this.sentinels.map((s) =>
            withClient(s.port, this.sentinelPassword, async (c) => ({
              sentinels: ((await c.call('SENTINEL', 'sentinels', this.name)) as unknown[]).length,
              replicas: ((await c.call('SENTINEL', 'replicas', this.name)) as string[][]).map(
                (fields) => fields[fields.indexOf('flags') + 1],
              ),
            })),
          ),
        );
        if (!views.every((v) => v.sentinels === 2 && v.replicas.includes('slave'))) {
          // Thrown, not returned: waitFor's timeout message then shows what each sentinel saw.
          throw new Error(`sentinels see ${JSON.stringify(views)}`);
        }
        return { primary, replica };
      },
      { description: 'the sentinel group to be formed', timeoutMs, intervalMs: 200 },
    );
    this.current = formed;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.sentinels, ...this.nodes].map((s) => s.stop()));
  }
}

async function withClient<T>(
  port: number,
  password: string,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    host: HOST,
    port,
    password,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    lazyConnect: true,
    connectTimeout: 1000,
    commandTimeout: 1000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}
