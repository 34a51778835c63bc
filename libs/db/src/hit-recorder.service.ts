import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ArtifactRecordsService, type HitCount } from './artifact-records.service';

type Table = 'cached_artifacts' | 'hosted_files';

const FLUSH_INTERVAL_MS = 2000;
/** Distinct artifacts buffered at most; beyond that new ones are dropped and counted. */
const MAX_PENDING = 20_000;

/**
 * Hit counts and last-access times, recorded off the request path: a hit only bumps an in-memory
 * counter, and a timer writes the batch in one statement. While Postgres is down the batch is
 * kept (bounded) and written once it is back.
 */
@Injectable()
export class HitRecorder implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(HitRecorder.name);
  private pending = new Map<string, HitCount & { table: Table }>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  dropped = 0;

  constructor(private readonly records: ArtifactRecordsService) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** distinct artifacts whose hits are not written yet */
  get pendingCount(): number {
    return this.pending.size;
  }

  record(table: Table, remote: string, path: string): void {
    this.add({ table, remote, path, hits: 1, lastAccessedAt: new Date() });
  }

  private add(count: HitCount & { table: Table }): void {
    const id = `${count.table}\0${count.remote}\0${count.path}`;
    const entry = this.pending.get(id);
    if (entry) {
      entry.hits += count.hits;
      entry.lastAccessedAt =
        count.lastAccessedAt > entry.lastAccessedAt ? count.lastAccessedAt : entry.lastAccessedAt;
      return;
    }
    if (this.pending.size >= MAX_PENDING) {
      this.dropped += count.hits;
      return;
    }
    this.pending.set(id, { ...count });
  }

  /** Writes what is pending; what fails to write goes back into the buffer. */
  flush(): Promise<void> {
    this.flushing ??= this.writePending().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    if (this.pending.size === 0) {
      return;
    }
    const batch = this.pending;
    this.pending = new Map();
    for (const table of ['cached_artifacts', 'hosted_files'] as const) {
      const counts = [...batch.values()].filter((entry) => entry.table === table);
      try {
        await this.records.addHits(table, counts);
      } catch (error) {
        this.logger.warn(
          `could not record ${counts.length} hit counts: ${(error as Error).message}`,
        );
        counts.forEach((entry) => this.add(entry));
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.flush();
  }
}
