import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

/**
 * Work that one replica at a time may do: held while it is renewed, gone by itself `ttlMs` after
 * a holder that crashed last renewed it. Every call is one Redis command (bounded by the
 * connection's command timeout); a Redis failure reads as "not held".
 */
export class RedisLease {
  private readonly owner = randomUUID();

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
  ) {}

  async acquire(): Promise<boolean> {
    return (
      (await this.redis.set(this.key, this.owner, 'PX', this.ttlMs, 'NX').catch(() => null)) ===
      'OK'
    );
  }

  /** False when the lease was lost (expired and taken by another replica, or Redis failed). */
  async renew(): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, this.key, this.owner, this.ttlMs).catch(() => 0)) === 1;
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.owner).catch(() => undefined);
  }
}
