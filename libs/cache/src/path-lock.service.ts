import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS } from './redis.provider';

const LOCK_TTL_SECONDS = 30;
const RENEW_EVERY_MS = 10_000;

// Delete or extend the lock only when it is still ours (another holder may have taken it over
// after an expiry).
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end`;

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Short-lived exclusive locks in Redis, renewed while held (a 1 GiB upload outlives any fixed
 * TTL) and expiring by themselves when their holder dies.
 */
@Injectable()
export class PathLockService {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** The lock, or null when someone else holds it. */
  async tryAcquire(name: string): Promise<HeldLock | null> {
    const key = `ac:lock:${name}`;
    const token = randomUUID();
    const acquired = await this.redis.set(key, token, 'EX', LOCK_TTL_SECONDS, 'NX');
    if (acquired !== 'OK') {
      return null;
    }
    const timer = setInterval(() => {
      this.redis.eval(RENEW, 1, key, token, LOCK_TTL_SECONDS).catch(() => undefined);
    }, RENEW_EVERY_MS);
    timer.unref();
    return {
      release: async () => {
        clearInterval(timer);
        await this.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
      },
    };
  }
}
