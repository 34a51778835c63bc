import { Inject, Injectable } from '@nestjs/common';
import { CacheStateService, type Headroom, type Marker, UpstreamLimits } from '@app/cache';
import { ArtifactError, withDeadline } from '@app/common';
import { APP_CONFIG, type AppConfig, type RemoteConfig } from '@app/config';
import { ArtifactRecordsService, type BrowsedRecord } from '@app/db';
import { fetchTargetOf, servesImages, splitImageReference } from '@app/formats';
import { type HealthReport, HealthService } from '@app/health';
import type { RemoteTraffic } from '@app/metrics';
import { type JobView, QueueInspectionService } from '../admin/queues/queue-inspection.service';
import {
  type RemoteUsageView,
  StorageUsageService,
  type UsageView,
} from '../admin/storage-usage.service';
import { type RemoteStateView, RemoteStates } from '../serving/remote-states.service';
import { TrafficWindow } from './traffic-window.service';

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
    /** served in the last hour, by every gateway */
    traffic: RemoteTraffic | null;
    /** null for a hosted remote, or when Redis did not answer */
    headroom: Headroom | null;
  }>;
  usage: Read<UsageView>;
  /** why traffic and headroom are missing, when they are */
  trafficProblem: string | null;
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
    private readonly limits: UpstreamLimits,
    private readonly traffic: TrafficWindow,
  ) {}

  async overview(): Promise<Overview> {
    const remotes = Object.values(this.config.remotes);
    const [usage, queue, health, traffic, headroom] = await Promise.all([
      bounded(this.usage.usage(), 'Postgres'),
      bounded(this.queues.counts(), 'Redis'),
      this.health.report(),
      bounded(this.traffic.lastHour(), 'Redis'),
      bounded(
        Promise.all(
          remotes.map((config) =>
            config.package === 'local' ? Promise.resolve(null) : this.limits.headroom(config),
          ),
        ),
        'Redis',
      ),
    ]);
    const states = this.states.list();
    return {
      remotes: remotes.map((config, i) => ({
        config,
        state: states.find((s) => s.remote === config.name) ?? null,
        usage: usage.ok
          ? (usage.value.remotes.find((u) => u.remote === config.name) ?? null)
          : null,
        traffic: traffic.ok ? (traffic.value.get(config.name) ?? null) : null,
        headroom: headroom.ok ? headroom.value[i] : null,
      })),
      usage,
      trafficProblem: traffic.ok ? (headroom.ok ? null : headroom.problem) : traffic.problem,
      queue,
      health,
    };
  }

  /**
   * A remote's page; `query` is a path prefix, a sha256 (hex, optionally `sha256:`), or on a
   * docker remote an image with its tag or digest (`library/alpine:3.19`): its manifest and
   * what that names.
   */
  async remote(config: RemoteConfig, query: string): Promise<RemoteDetail> {
    const [usage, files, failures] = await Promise.all([
      bounded(
        this.usage
          .usage()
          .then((view) => view.remotes.find((u) => u.remote === config.name) ?? null),
        'Postgres',
      ),
      bounded(
        this.browse(config, query.trim()).then((rows) =>
          Promise.all(rows.map((row) => this.describe(config, row))),
        ),
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

  private browse(config: RemoteConfig, query: string): Promise<BrowsedRecord[]> {
    if (config.package === 'local') {
      return this.records.browse('hosted_files', config.name, filterOf(query), BROWSE_LIMIT);
    }
    const digest = digestOf(query);
    if (digest === null && servesImages(config)) {
      const { image, reference } = splitImageReference(query);
      if (reference !== null && image !== '') {
        const manifest = `${image}/manifests/${reference}`;
        return this.records.browseReferences(config.name, manifest, `${image}/`, BROWSE_LIMIT);
      }
    }
    return this.records.browse('cached_artifacts', config.name, filterOf(query), BROWSE_LIMIT);
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

/** A sha256 in hex, optionally written `sha256:<hex>`; null when the query is not one. */
function digestOf(query: string): string | null {
  return /^(?:sha256:)?([0-9a-f]{64})$/.exec(query.toLowerCase())?.[1] ?? null;
}

function filterOf(query: string): { prefix: string } | { sha256: string } {
  const digest = digestOf(query);
  return digest === null ? { prefix: query } : { sha256: digest };
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
