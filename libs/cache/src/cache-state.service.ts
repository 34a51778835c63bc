import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { CACHE_KEY_KINDS, cacheKey, remotePattern } from './cache-keys';
import { REDIS } from './redis.provider';

/** What the upstream said about the copy we hold, for conditional requests. */
export interface Validators {
  etag: string | null;
  lastModified: string | null;
}

/**
 * TTL markers for mutable files, revalidation metadata and the negative cache, in Redis.
 * A mutable file is fresh while its marker exists; the marker's TTL is the remote's mutable_ttl.
 */
@Injectable()
export class CacheStateService {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** One round trip: the whole cost of a fresh mutable hit. */
  async isFresh(remote: string, path: string): Promise<boolean> {
    return (await this.redis.exists(cacheKey('fresh', remote, path))) === 1;
  }

  async markFresh(remote: string, path: string, ttlSeconds: number): Promise<void> {
    const key = cacheKey('fresh', remote, path);
    if (ttlSeconds <= 0) {
      await this.redis.del(key);
      return;
    }
    await this.redis.set(key, String(Date.now()), 'EX', ttlSeconds);
  }

  async getValidators(remote: string, path: string): Promise<Validators> {
    const stored = await this.redis.hgetall(cacheKey('validators', remote, path));
    return { etag: stored.etag || null, lastModified: stored.lastModified || null };
  }

  async setValidators(remote: string, path: string, validators: Validators): Promise<void> {
    const key = cacheKey('validators', remote, path);
    const fields: Record<string, string> = {};
    if (validators.etag) {
      fields.etag = validators.etag;
    }
    if (validators.lastModified) {
      fields.lastModified = validators.lastModified;
    }
    const multi = this.redis.multi().del(key);
    if (Object.keys(fields).length > 0) {
      multi.hset(key, fields);
    }
    await multi.exec();
  }

  /** Negative cache: an upstream 404 remembered for the remote's negative_ttl. */
  async rememberMissing(remote: string, path: string, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) {
      await this.redis.set(cacheKey('missing', remote, path), '1', 'EX', ttlSeconds);
    }
  }

  async isKnownMissing(remote: string, path: string): Promise<boolean> {
    return (await this.redis.exists(cacheKey('missing', remote, path))) === 1;
  }

  async forgetMissing(remote: string, path: string): Promise<void> {
    await this.redis.del(cacheKey('missing', remote, path));
  }

  /** Drops every marker, validator and negative entry of one remote (or all); returns the count. */
  async flush(remote: string | null): Promise<number> {
    let deleted = 0;
    for (const kind of CACHE_KEY_KINDS) {
      const stream = this.redis.scanStream({ match: remotePattern(kind, remote), count: 500 });
      for await (const keys of stream as AsyncIterable<string[]>) {
        if (keys.length > 0) {
          deleted += await this.redis.unlink(...keys);
        }
      }
    }
    return deleted;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }
}
