import { Inject, Injectable } from '@nestjs/common';
import { CacheStateService, type Marker } from '@app/cache';
import { ArtifactError, withDeadline } from '@app/common';
import { APP_CONFIG, type AppConfig, type RemoteConfig } from '@app/config';
import { ArtifactRecordsService, type BrowsedRecord } from '@app/db';
import { fetchTargetOf } from '@app/formats';
import { type HealthReport, HealthService } from '@app/health';
import { type JobView, QueueInspectionService } from '../admin/queues/queue-inspection.service';
import {
  type RemoteUsageView,
  StorageUsageService,
  type UsageView,
} from '../admin/storage-usage.service';
import { type RemoteStateView, RemoteStates } from '../serving/remote-states.service';

/** Every read a console page makes is bounded: a page that cannot say something says so. */
const READ_TIMEOUT_MS = 3000;
/** Files listed on a remote's page at most. */
export const BROWSE_LIMIT = 200;
/** Failed fetches read to find a remote's recent ones. */
const FAILED_JOBS_READ = 500;

/** A value, or why it could not be read. */
export type Read<T> = { ok: true; value: T } | { ok: false; problem: string };

export interface Overview {
  remotes: Array<{
    config: RemoteConfig;
    state: RemoteStateView | null;
    usage: RemoteUsageView | null;
  }>;
  usage: Read<UsageView>;
  queue: Read<Record<string, number>>;
  health: HealthReport;
}

export interface BrowsedFile extends BrowsedRecord {
  pathClass: 'immutable' | 'mutable';
  /** mutable files: fresh, unconfirmed (served stale) or expired; null when unknown */
  freshness: Marker['state'] | null;
}

export interface RemoteDetail {
  config: RemoteConfig;
  state: RemoteStateView | null;
  usage: Read<RemoteUsageView | null>;
  files: Read<BrowsedFile[]>;
  failures: Read<JobView[]>;
}

/** What the console's pages show, read from the services the JSON API uses. */
@Injectable()
export class ConsoleData {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly states: RemoteStates,
    private readonly usage: StorageUsageService,
    private readonly queues: QueueInspectionService,
    private readonly health: HealthService,
    private readonly records: ArtifactRecordsService,
    private readonly cacheState: CacheStateService,
  ) {}

  async overview(): Promise<Overview> {
    const [usage, queue, health] = await Promise.all([
      bounded(this.usage.usage(), 'Postgres'),
      bounded(this.queues.counts(), 'Redis'),
      this.health.report(),
    ]);
    const states = this.states.list();
    return {
      remotes: Object.values(this.config.remotes).map((config) => ({
        config,
        state: states.find((s) => s.remote === config.name) ?? null,
        usage: usage.ok
          ? (usage.value.remotes.find((u) => u.remote === config.name) ?? null)
          : null,
      })),
      usage,
      queue,
      health,
    };
  }

  /** A remote's page; `query` is a path prefix, or a sha256 (hex, optionally `sha256:`). */
  async remote(config: RemoteConfig, query: string): Promise<RemoteDetail> {
    const digest = /^(?:sha256:)?([0-9a-f]{64})$/.exec(query.trim().toLowerCase())?.[1];
    const filter = digest !== undefined ? { sha256: digest } : { prefix: query };
    const [usage, files, failures] = await Promise.all([
      bounded(
        this.usage
          .usage()
          .then((view) => view.remotes.find((u) => u.remote === config.name) ?? null),
        'Postgres',
      ),
      bounded(
        this.records
          .browse(
            config.package === 'local' ? 'hosted_files' : 'cached_artifacts',
            config.name,
            filter,
            BROWSE_LIMIT,
          )
          .then((rows) => Promise.all(rows.map((row) => this.describe(config, row)))),
        'Postgres',
      ),
      bounded(
        this.queues
          .jobs('failed', FAILED_JOBS_READ)
          .then((jobs) => jobs.filter((job) => job.remote === config.name).slice(0, 20)),
        'Redis',
      ),
    ]);
    const state = this.states.list().find((s) => s.remote === config.name) ?? null;
    return { config, state, usage, files, failures };
  }

  private async describe(config: RemoteConfig, row: BrowsedRecord): Promise<BrowsedFile> {
    let pathClass: BrowsedFile['pathClass'] = 'immutable';
    if (config.package !== 'local') {
      try {
        pathClass = fetchTargetOf(config, row.path).pathClass;
      } catch {
        // A record of a path the remote no longer serves (its patterns changed): as fetched.
      }
    }
    if (pathClass === 'immutable') {
      return { ...row, pathClass, freshness: null };
    }
    const marker = await this.cacheState.marker(config.name, row.path).catch(() => null);
    return { ...row, pathClass, freshness: marker?.state ?? null };
  }
}

async function bounded<T>(work: Promise<T>, what: string): Promise<Read<T>> {
  try {
    const value = await withDeadline(
      work,
      READ_TIMEOUT_MS,
      () =>
        new ArtifactError(
          'service_unavailable',
          `${what} did not answer in ${READ_TIMEOUT_MS / 1000} s`,
        ),
    );
    return { ok: true, value };
  } catch (error) {
    return { ok: false, problem: `${what}: ${(error as Error).message}` };
  }
}
