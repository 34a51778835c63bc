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
  /** by table, then remote, then path: a hit finds its count through strings it already holds */
  private pending = new Map<Table, Map<string, Map<string, HitCount>>>();
  private pendingSize = 0;
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
    return this.pendingSize;
  }

  record(table: Table, remote: string, path: string): void {
    this.add(table, remote, path, 1, Date.now());
  }

  private add(table: Table, remote: string, path: string, hits: number, atMs: number): void {
    let ofTable = this.pending.get(table);
    if (ofTable === undefined) {
      ofTable = new Map();
      this.pending.set(table, ofTable);
    }
    let ofRemote = ofTable.get(remote);
    if (ofRemote === undefined) {
      ofRemote = new Map();
      ofTable.set(remote, ofRemote);
    }
    const entry = ofRemote.get(path);
    if (entry) {
      entry.hits += hits;
      if (atMs > entry.lastAccessedAt.getTime()) {
        entry.lastAccessedAt = new Date(atMs);
      }
      return;
    }
    if (this.pendingSize >= MAX_PENDING) {
      this.dropped += hits;
      return;
    }
    ofRemote.set(path, { remote, path, hits, lastAccessedAt: new Date(atMs) });
    this.pendingSize += 1;
  }

  /** Writes what is pending; what fails to write goes back into the buffer. */
  flush(): Promise<void> {
    this.flushing ??= this.writePending().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    if (this.pendingSize === 0) {
      return;
    }
    const batch = this.pending;
    this.pending = new Map();
    this.pendingSize = 0;
    for (const [table, ofTable] of batch) {
      const counts = [...ofTable.values()].flatMap((ofRemote) => [...ofRemote.values()]);
      try {
        await this.records.addHits(table, counts);
      } catch (error) {
        this.logger.warn(
          `could not record ${counts.length} hit counts: ${(error as Error).message}`,
        );
        for (const { remote, path, hits, lastAccessedAt } of counts) {
          this.add(table, remote, path, hits, lastAccessedAt.getTime());
        }
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
