import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS, trafficMinuteKey } from '@app/cache';
import { MetricsService, type RemoteTraffic } from '@app/metrics';
import { sumTraffic, trafficGrowth } from './traffic';

/** How often each gateway process adds what it served to the shared minutes. */
const FLUSH_EVERY_MS = 10_000;
/** Minutes kept: the console shows the last 60. */
const KEPT_SECONDS = 2 * 60 * 60;
const WINDOW_MINUTES = 60;

/**
 * What the gateways served over the last hour, per remote, for the console: every gateway
 * process adds the growth of its own request and byte counters to a Redis hash per minute every
 * 10 s (one transaction, nothing on the request path), and the console sums the last 60; the
 * process that answers the page adds its own first, so what it served itself is never behind.
 */
@Injectable()
export class TrafficWindow implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(TrafficWindow.name);
  private last = new Map<string, RemoteTraffic>();
  private timer: NodeJS.Timeout | null = null;
  /** Flushes run one after another: each counts the growth since the one before. */
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.flush();
  }

  /** Per remote, the requests by source and the bytes served in the last hour. */
  async lastHour(): Promise<Map<string, RemoteTraffic>> {
    await this.flush();
    const current = Math.floor(Date.now() / 60_000);
    const read = this.redis.pipeline();
    for (let minute = current - WINDOW_MINUTES + 1; minute <= current; minute++) {
      read.hgetall(trafficMinuteKey(minute));
    }
    const minutes: Array<Record<string, string>> = [];
    for (const [error, hash] of (await read.exec()) ?? []) {
      if (error) {
        throw error;
      }
      minutes.push(hash as Record<string, string>);
    }
    return sumTraffic(minutes);
  }

  /** Never rejects: a flush that fails leaves its growth to the next one. */
  private flush(): Promise<void> {
    this.flushing = this.flushing
      .then(() => this.flushGrowth())
      .catch((error: Error) => this.logger.warn(`traffic not recorded: ${error.message}`));
    return this.flushing;
  }

  private async flushGrowth(): Promise<void> {
    const now = await this.metrics.trafficTotals();
    const grown = trafficGrowth(this.last, now);
    if (grown.length === 0) {
      return;
    }
    const key = trafficMinuteKey(Math.floor(Date.now() / 60_000));
    // One transaction: a flush counts all of its growth or none of it (and then the next does).
    const write = this.redis.multi();
    for (const [field, by] of grown) {
      write.hincrby(key, field, by);
    }
    write.expire(key, KEPT_SECONDS);
    const failed = ((await write.exec()) ?? []).find(([error]) => error !== null)?.[0];
    if (failed) {
      throw failed;
    }
    this.last = now;
  }
}
