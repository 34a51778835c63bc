import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { budgetKey, slotsKey } from './cache-keys';
import { REDIS } from './redis.provider';

/**
 * Takes one token from a bucket that holds at most ARGV[1] and refills ARGV[2] tokens a
 * millisecond, on Redis's clock (every replica shares it). Returns 0 when a token was taken,
 * else the milliseconds until one will be there.
 */
const TAKE_TOKEN = `
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('hmget', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('hset', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('pexpire', KEYS[1], math.ceil(capacity / rate) + 1000)
return wait`;

/**
 * Takes a slot of at most ARGV[1] for lease ARGV[3], valid ARGV[2] ms; leases that were not
 * renewed in time (their holder died) are dropped first. 1 when taken, 0 when all are held.
 */
const TAKE_SLOT = `
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('pexpire', KEYS[1], tonumber(ARGV[2]))
return 1`;

const RENEW_SLOT = `
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('zadd', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2]) == 1 then
  redis.call('pexpire', KEYS[1], tonumber(ARGV[1]))
end
return 1`;

/**
 * A remote's request budget (max_requests_per_minute, a token bucket holding a minute's worth)
 * and its open-request slots (max_concurrent, leases that expire unless renewed), shared by every
 * replica through Redis (docs/CACHING.md#request-shaping). When Redis does not answer, the limits
 * let the request go: they protect the upstream, they must not take the cache down with Redis.
 */
@Injectable()
export class UpstreamLimits {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** 0 when a token was taken, else the milliseconds until the next one. */
  async takeToken(remote: string, perMinute: number): Promise<number> {
    const wait = await this.redis
      .eval(TAKE_TOKEN, 1, budgetKey(remote), perMinute, perMinute / 60_000)
      .catch(() => 0);
    return Number(wait);
  }

  async takeSlot(remote: string, max: number, lease: string, leaseMs: number): Promise<boolean> {
    const taken = await this.redis
      .eval(TAKE_SLOT, 1, slotsKey(remote), max, leaseMs, lease)
      .catch(() => 1);
    return Number(taken) === 1;
  }

  async renewSlot(remote: string, lease: string, leaseMs: number): Promise<void> {
    await this.redis.eval(RENEW_SLOT, 1, slotsKey(remote), leaseMs, lease).catch(() => undefined);
  }

  async releaseSlot(remote: string, lease: string): Promise<void> {
    await this.redis.zrem(slotsKey(remote), lease).catch(() => undefined);
  }
}
