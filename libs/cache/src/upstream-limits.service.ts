import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { ProxyRemoteConfig } from '@app/config';
import { advertisedLimitKey, budgetKey, slotsKey } from './cache-keys';
import { REDIS } from './redis.provider';

/** Redis's clock in milliseconds, as `now`: every replica shares it. */
const NOW = `
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** The bucket KEYS[1] holding at most ARGV[1], refilled by ARGV[2] tokens a millisecond, as `tokens`. */
const REFILLED = `${NOW}
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('hmget', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)`;

/** Takes one token: 0 when one was taken, else the milliseconds until one will be there. */
const TAKE_TOKEN = `${REFILLED}
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('hset', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('pexpire', KEYS[1], math.ceil(capacity / rate) + 1000)
return wait`;

/** The whole tokens in the bucket now, taking none. */
const PEEK_TOKENS = `${REFILLED}
return math.floor(tokens)`;

/**
 * Takes a slot of at most ARGV[1] for lease ARGV[3], valid ARGV[2] ms; leases that were not
 * renewed in time (their holder died) are dropped first. 1 when taken, 0 when all are held.
 */
const TAKE_SLOT = `${NOW}
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('pexpire', KEYS[1], tonumber(ARGV[2]))
return 1`;

const RENEW_SLOT = `${NOW}
if redis.call('zadd', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2]) == 1 then
  redis.call('pexpire', KEYS[1], tonumber(ARGV[1]))
end
return 1`;

/** The leases not yet expired: the upstream requests open now. */
const OPEN_SLOTS = `${NOW}
return redis.call('zcount', KEYS[1], now, '+inf')`;

/** What the upstream said last is kept this long: a window of Docker Hub's is 6 hours. */
const ADVERTISED_KEPT_MS = 6 * 60 * 60 * 1000;

/** How much of a remote's request limits is left, where it is known. */
export interface Headroom {
  /** max_requests_per_minute: the requests it could make at once now */
  budget: { left: number; perMinute: number } | null;
  /** max_concurrent: the upstream requests open now */
  slots: { open: number; max: number } | null;
  /** what the upstream said in its last RateLimit headers, and when */
  advertised: { limit: number | null; remaining: number | null; at: string } | null;
}

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

  /** Keeps what the upstream said of its own budget, for the console; best effort. */
  async recordAdvertised(remote: string, limit: number | null, remaining: number | null) {
    const fields: Record<string, string> = { at: new Date().toISOString() };
    if (limit !== null) {
      fields.limit = String(limit);
    }
    if (remaining !== null) {
      fields.remaining = String(remaining);
    }
    await this.redis
      .multi()
      .del(advertisedLimitKey(remote))
      .hset(advertisedLimitKey(remote), fields)
      .pexpire(advertisedLimitKey(remote), ADVERTISED_KEPT_MS)
      .exec()
      .catch(() => undefined);
  }

  /** Reads a remote's headroom; rejects when Redis does not answer. */
  async headroom(remote: ProxyRemoteConfig): Promise<Headroom> {
    const perMinute = remote.maxRequestsPerMinute;
    const [left, open, advertised] = await Promise.all([
      perMinute === null
        ? null
        : this.redis.eval(PEEK_TOKENS, 1, budgetKey(remote.name), perMinute, perMinute / 60_000),
      remote.maxConcurrent === null ? null : this.redis.eval(OPEN_SLOTS, 1, slotsKey(remote.name)),
      this.redis.hgetall(advertisedLimitKey(remote.name)),
    ]);
    return {
      budget: perMinute === null ? null : { left: Number(left), perMinute },
      slots:
        remote.maxConcurrent === null ? null : { open: Number(open), max: remote.maxConcurrent },
      advertised:
        advertised.at === undefined
          ? null
          : {
              limit: countOrNull(advertised.limit),
              remaining: countOrNull(advertised.remaining),
              at: advertised.at,
            },
    };
  }
}

function countOrNull(value: string | undefined): number | null {
  return value === undefined ? null : Number(value);
}
