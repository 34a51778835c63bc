import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { type Readable, Transform, type TransformCallback, pipeline } from 'node:stream';
import type { Redis } from 'ioredis';
import { REDIS, STORAGE_DROPPED_CHANNEL, createSubscriberConnection } from '@app/cache';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { ObjectInfo } from '@app/storage';
import { type MemoryEntry, MemoryTier } from './memory-tier';

/**
 * Longest an in-memory copy is served without looking at storage again: it bounds what a missed
 * invalidation (Redis partitioned during a flush) can cost.
 */
const MAX_AGE_MS = 60_000;

/**
 * The gateway's memory tier: small immutable objects served from this process's memory, filled
 * by a storage hit as it streams, dropped by a flush here or (over Redis pub/sub) on any gateway.
 * What it holds is exactly what storage held, so a memory hit has the headers of a storage hit.
 */
@Injectable()
export class MemoryHits implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(MemoryHits.name);
  private readonly tier: MemoryTier;
  private subscriber: Redis | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    this.tier = new MemoryTier({ ...config.memoryTier, maxAgeMs: MAX_AGE_MS });
  }

  get enabled(): boolean {
    return this.config.memoryTier.maxBytes > 0;
  }

  onModuleInit(): void {
    if (!this.enabled) {
      return;
    }
    const subscriber = createSubscriberConnection(this.config.redis);
    let connectedBefore = false;
    subscriber.on('ready', () => {
      // Invalidations published while this connection was down are lost: start over.
      if (connectedBefore) {
        this.tier.forget('');
      }
      connectedBefore = true;
    });
    subscriber.on('message', (_channel: string, message: string) => {
      const keys = message.split('\n');
      if (keys.length === 1) {
        this.tier.forget(message);
      } else {
        this.tier.forgetKeys(keys);
      }
    });
    void subscriber.subscribe(STORAGE_DROPPED_CHANNEL).catch((error: Error) => {
      this.logger.warn(`cannot subscribe to storage invalidations: ${error.message}`);
    });
    this.subscriber = subscriber;
  }

  onApplicationShutdown(): void {
    this.subscriber?.disconnect();
  }

  /** The copy held of `key`, if any. */
  get(key: string): MemoryEntry | undefined {
    return this.tier.get(key, Date.now());
  }

  /**
   * A storage hit's body, passed through unchanged; once it has streamed whole, its bytes are held
   * (when small enough). Bodies too large to hold are returned as they are.
   */
  keep(info: ObjectInfo, body: Readable): Readable {
    if (!this.enabled || !this.tier.accepts(info.size)) {
      return body;
    }
    const generation = this.tier.currentGeneration;
    const chunks: Buffer[] = [];
    let received = 0;
    const tier = this.tier;
    const collector = new Transform({
      transform(chunk: Buffer, _encoding, done: TransformCallback) {
        chunks.push(chunk);
        received += chunk.length;
        done(null, chunk);
      },
      flush(done: TransformCallback) {
        if (received === info.size) {
          tier.put(info.key, info, Buffer.concat(chunks, received), generation, Date.now());
        }
        done();
      },
    });
    // pipeline, not pipe: a failing read breaks the response, a client that leaves ends the read.
    return pipeline(body, collector, () => undefined);
  }

  /**
   * Stored objects under `prefix` were removed: drop them here at once, and on every other
   * gateway through Redis (when Redis is down they age out within MAX_AGE_MS).
   */
  async dropped(prefix: string): Promise<void> {
    this.tier.forget(prefix);
    if (!this.enabled) {
      return;
    }
    try {
      await this.redis.publish(STORAGE_DROPPED_CHANNEL, prefix);
    } catch (error) {
      this.logger.warn(
        `cannot tell other gateways that ${prefix}* was removed (${(error as Error).message}); ` +
          `their in-memory copies expire within ${MAX_AGE_MS / 1000} s`,
      );
    }
  }
}
