import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ArtifactError } from '@app/common';
import { CACHE_KEY_KINDS, cacheKey, remotePattern } from './cache-keys';
import { REDIS } from './redis.provider';

/** What the upstream said about the copy we hold, for conditional requests. */
export interface Validators {
  etag: string | null;
  lastModified: string | null;
}

const RETRY_AFTER_SECONDS = 5;
/** A TTL marker's value for a copy the upstream could not confirm: this, then the reason. */
const UNCONFIRMED = 'unconfirmed:';

export type Marker =
  { state: 'fresh' } | { state: 'unconfirmed'; reason: string } | { state: 'expired' };

/**
 * TTL markers for mutable files, revalidation metadata and the negative cache, in Redis.
 * A mutable file is fresh while its marker exists; the marker's TTL is the remote's mutable_ttl.
 * Every failure is a `service_unavailable` ArtifactError: Redis is down, or has no primary during
 * a Sentinel failover, and the caller (a gateway answering 503, a fetcher attempt to retry) needs
 * to tell that from an upstream's or storage's failure.
 */
@Injectable()
export class CacheStateService {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /**
   * A mutable file's TTL marker, in one round trip (the whole cost of a fresh mutable hit):
   * `fresh` (the upstream confirmed it), `unconfirmed` with why (it could not be asked, so the
   * copy is served stale until a revalidation confirms it), or `expired`.
   */
  async marker(remote: string, path: string): Promise<Marker> {
    const value = await this.call((redis) => redis.get(cacheKey('fresh', remote, path)));
    if (value === null) {
      return { state: 'expired' };
    }
    return value.startsWith(UNCONFIRMED)
      ? { state: 'unconfirmed', reason: value.slice(UNCONFIRMED.length) }
      : { state: 'fresh' };
  }

  /** Within its TTL, confirmed or not: a fetch of it need not run again. */
  async isFresh(remote: string, path: string): Promise<boolean> {
    return (await this.marker(remote, path)).state !== 'expired';
  }

  async markFresh(remote: string, path: string, ttlSeconds: number): Promise<void> {
    await this.setMarker(remote, path, String(Date.now()), ttlSeconds);
  }

  /** The upstream could not confirm the copy: it is served, labelled stale, for another TTL. */
  async markUnconfirmed(
    remote: string,
    path: string,
    ttlSeconds: number,
    reason: string,
  ): Promise<void> {
    await this.setMarker(remote, path, `${UNCONFIRMED}${reason}`, ttlSeconds);
  }

  private async setMarker(
    remote: string,
    path: string,
    value: string,
    ttlSeconds: number,
  ): Promise<void> {
    const key = cacheKey('fresh', remote, path);
    await this.call(async (redis) => {
      if (ttlSeconds <= 0) {
        await redis.del(key);
        return;
      }
      await redis.set(key, value, 'EX', ttlSeconds);
    });
  }

  async getValidators(remote: string, path: string): Promise<Validators> {
    const stored = await this.call((redis) => redis.hgetall(cacheKey('validators', remote, path)));
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
    await this.call(async (redis) => {
      const multi = redis.multi().del(key);
      if (Object.keys(fields).length > 0) {
        multi.hset(key, fields);
      }
      await multi.exec();
    });
  }

  /** Negative cache: an upstream 404 remembered for the remote's negative_ttl. */
  async rememberMissing(remote: string, path: string, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) {
      await this.call((redis) =>
        redis.set(cacheKey('missing', remote, path), '1', 'EX', ttlSeconds),
      );
    }
  }

  async isKnownMissing(remote: string, path: string): Promise<boolean> {
    return this.call(
      async (redis) => (await redis.exists(cacheKey('missing', remote, path))) === 1,
    );
  }

  async forgetMissing(remote: string, path: string): Promise<void> {
    await this.call((redis) => redis.del(cacheKey('missing', remote, path)));
  }

  /**
   * What a tag's last upstream check found (`sha256:…`), shared for tag_check_window seconds so
   * that a burst of revalidations of one tag asks the upstream once.
   */
  async lastTagCheck(remote: string, path: string): Promise<string | null> {
    return this.call((redis) => redis.get(cacheKey('tag-check', remote, path)));
  }

  async rememberTagCheck(
    remote: string,
    path: string,
    digest: string,
    windowSeconds: number,
  ): Promise<void> {
    if (windowSeconds > 0) {
      await this.call((redis) =>
        redis.set(
          cacheKey('tag-check', remote, path),
          digest,
          'PX',
          Math.ceil(windowSeconds * 1000),
        ),
      );
    }
  }

  /** Drops every marker, validator, negative entry and tag check of one remote (or all); returns the count. */
  async flush(remote: string | null): Promise<number> {
    return this.call(async (redis) => {
      let deleted = 0;
      for (const kind of CACHE_KEY_KINDS) {
        const stream = redis.scanStream({ match: remotePattern(kind, remote), count: 500 });
        for await (const keys of stream as AsyncIterable<string[]>) {
          if (keys.length > 0) {
            deleted += await redis.unlink(...keys);
          }
        }
      }
      return deleted;
    });
  }

  /** Drops the TTL markers, validators, negative entries and tag checks of one path, or of a path prefix. */
  async forgetPaths(remote: string, path: string, prefix: boolean): Promise<number> {
    return this.call(async (redis) => {
      if (!prefix) {
        return redis.unlink(...CACHE_KEY_KINDS.map((kind) => cacheKey(kind, remote, path)));
      }
      let deleted = 0;
      const glob = path.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
      for (const kind of CACHE_KEY_KINDS) {
        const match = `${cacheKey(kind, remote, glob)}*`;
        for await (const keys of redis.scanStream({ match, count: 500 }) as AsyncIterable<
          string[]
        >) {
          if (keys.length > 0) {
            deleted += await redis.unlink(...keys);
          }
        }
      }
      return deleted;
    });
  }

  async ping(): Promise<void> {
    await this.call((redis) => redis.ping());
  }

  private async call<T>(operation: (redis: Redis) => Promise<T>): Promise<T> {
    try {
      return await operation(this.redis);
    } catch (error) {
      throw new ArtifactError(
        'service_unavailable',
        `Redis is unavailable: ${(error as Error).message}`,
        { retryAfter: RETRY_AFTER_SECONDS },
      );
    }
  }
}
