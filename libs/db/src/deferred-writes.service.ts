import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';

/** What is not written yet is retried this often. */
const RETRY_INTERVAL_MS = 3000;
/** Writes kept at most while Postgres is away; beyond that the oldest are dropped and counted. */
const MAX_PENDING = 20_000;

interface Pending {
  write: () => Promise<void>;
  /** orders writes of one id: an older write that fails never replaces a newer one */
  sequence: number;
}

/**
 * Postgres writes that must not hold anything up: a published artifact's row, a hosted file's
 * row. Each is tried at once; one that fails (Postgres down, partitioned or slow: every query has
 * a timeout) is kept, the newest per id, and tried again until it lands, so nothing is lost while
 * Postgres is away and nothing waits for it.
 */
@Injectable()
export class DeferredWrites implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DeferredWrites.name);
  private readonly pending = new Map<string, Pending>();
  private readonly latest = new Map<string, number>();
  private sequence = 0;
  private timer: NodeJS.Timeout | null = null;
  private retrying: Promise<void> | null = null;
  dropped = 0;

  onModuleInit(): void {
    this.timer = setInterval(() => void this.retryPending(), RETRY_INTERVAL_MS);
    this.timer.unref();
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Runs `write` now, and again later until it succeeds or a newer write of `id` supersedes it. */
  submit(id: string, write: () => Promise<void>): void {
    const sequence = ++this.sequence;
    this.latest.set(id, sequence);
    this.pending.delete(id);
    void this.attempt(id, { write, sequence });
  }

  /** Tries everything pending once more (the timer does this; tests and shutdown call it). */
  retryPending(): Promise<void> {
    this.retrying ??= (async () => {
      const batch = [...this.pending.entries()];
      for (const [id, entry] of batch) {
        if (this.pending.get(id) === entry) {
          this.pending.delete(id);
          await this.attempt(id, entry);
        }
      }
    })().finally(() => {
      this.retrying = null;
    });
    return this.retrying;
  }

  private async attempt(id: string, entry: Pending): Promise<void> {
    try {
      await entry.write();
      if (this.latest.get(id) === entry.sequence) {
        this.latest.delete(id);
      }
    } catch (error) {
      if (this.latest.get(id) !== entry.sequence) {
        return;
      }
      if (this.pending.size >= MAX_PENDING) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) {
          this.pending.delete(oldest);
          this.latest.delete(oldest);
          this.dropped += 1;
        }
      }
      if (this.pending.size === 0) {
        this.logger.warn(`Postgres write failed, kept for a retry: ${(error as Error).message}`);
      }
      this.pending.set(id, entry);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.retryPending();
    if (this.pending.size > 0) {
      this.logger.warn(`${this.pending.size} Postgres writes lost at shutdown`);
    }
  }
}
