import { Inject, Injectable } from '@nestjs/common';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig } from '@app/config';
import { ArtifactRecordsService } from '@app/db';
import { EvictionService, type PassReport } from '@app/eviction';

export interface RemoteUsageView {
  remote: string;
  objects: number;
  bytes: number;
  max_size: number | null;
  evict_unused_after: number | null;
  /** the least recent last use of what it holds */
  oldest_access: string | null;
  /** what the last pass removed from it */
  last_pass: { at: string; removed_objects: number; removed_bytes: number } | null;
}

export interface UsageView {
  remotes: RemoteUsageView[];
  storage: { bytes: number; max_size: number | null; evict_interval: number; gc_grace: number };
  last_pass: {
    at: string;
    seconds: number;
    removed_objects: number;
    removed_bytes: number;
    shared_objects: number;
    collected_contents: number;
    collected_bytes: number;
  } | null;
}

/** What the cache holds per remote, its limits and the last eviction pass (docs/STORAGE.md). */
@Injectable()
export class StorageUsageService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly records: ArtifactRecordsService,
    private readonly eviction: EvictionService,
  ) {}

  async usage(): Promise<UsageView> {
    const [held, last] = await Promise.all([
      this.records.usage().catch((error: Error) => {
        throw new ArtifactError('service_unavailable', `Postgres: ${error.message}`, {
          retryAfter: 5,
        });
      }),
      this.eviction.lastPass(),
    ]);
    const remotes = Object.values(this.config.remotes)
      .filter((remote): remote is ProxyRemoteConfig => remote.package !== 'local')
      .map((remote): RemoteUsageView => {
        const usage = held.find((u) => u.remote === remote.name);
        const removed = last?.byRemote[remote.name];
        return {
          remote: remote.name,
          objects: usage?.objects ?? 0,
          bytes: usage?.bytes ?? 0,
          max_size: remote.maxSize,
          evict_unused_after: remote.evictUnusedAfter,
          oldest_access: usage?.oldestUse?.toISOString() ?? null,
          last_pass: last
            ? {
                at: last.at,
                removed_objects: removed?.objects ?? 0,
                removed_bytes: removed?.bytes ?? 0,
              }
            : null,
        };
      });
    return {
      remotes,
      storage: {
        bytes: held.reduce((sum, usage) => sum + usage.bytes, 0),
        max_size: this.config.eviction.maxSize,
        evict_interval: this.config.eviction.intervalSeconds,
        gc_grace: this.config.eviction.gcGraceSeconds,
      },
      last_pass: last
        ? {
            at: last.at,
            seconds: last.seconds,
            removed_objects: last.objects,
            removed_bytes: last.bytes,
            shared_objects: last.shared,
            collected_contents: last.collected.contents,
            collected_bytes: last.collected.bytes,
          }
        : null,
    };
  }

  /** A pass now (or what it would remove); a conflict while another replica runs one. */
  async evict(dryRun: boolean): Promise<PassReport> {
    const report = await this.eviction.pass({ dryRun });
    if (!report) {
      throw new ArtifactError(
        'conflict',
        'an eviction pass is running on another replica; try again shortly',
      );
    }
    return report;
  }
}
