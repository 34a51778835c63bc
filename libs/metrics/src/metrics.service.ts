import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge } from 'prom-client';
import { BatchedCounter } from './batched-counter';
import type { BucketHistogram } from './bucket-histogram';
import {
  METRIC,
  METRICS,
  type ArtifactSource,
  type QueueState,
  type RevalidationResult,
  type SavedRequest,
  type UpstreamLimit,
} from './metric-names';

export interface RemoteTraffic {
  /** by artifact source: cache, remote, stale, local, none */
  requests: Record<string, number>;
  bytes: number;
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** Typed recording methods over the docs/METRICS.md metrics, so callers cannot invent labels. */
@Injectable()
export class MetricsService {
  // What every hit increments, batched (batched-counter.ts); the rest are counted as they come.
  private readonly requestCounts: BatchedCounter;
  private readonly hitCounts: BatchedCounter;
  private readonly savedCounts: BatchedCounter;
  private readonly servedCounts: BatchedCounter;

  constructor(
    @InjectMetric(METRIC.requests) private readonly requests: Counter<string>,
    @InjectMetric(METRIC.requestDuration) private readonly requestDuration: BucketHistogram,
    @InjectMetric(METRIC.cacheHits) private readonly cacheHits: Counter<string>,
    @InjectMetric(METRIC.cacheMisses) private readonly cacheMisses: Counter<string>,
    @InjectMetric(METRIC.staleServed) private readonly staleServed: Counter<string>,
    @InjectMetric(METRIC.servedBytes) private readonly servedBytes: Counter<string>,
    @InjectMetric(METRIC.fetchDuration) private readonly fetchDuration: BucketHistogram,
    @InjectMetric(METRIC.fetchedBytes) private readonly fetchedBytes: Counter<string>,
    @InjectMetric(METRIC.fetchFailures) private readonly fetchFailures: Counter<string>,
    @InjectMetric(METRIC.revalidations) private readonly revalidations: Counter<string>,
    @InjectMetric(METRIC.queueJobs) private readonly queueJobs: Gauge<string>,
    @InjectMetric(METRIC.storageBytes) private readonly storageBytes: Gauge<string>,
    @InjectMetric(METRIC.storageObjects) private readonly storageObjects: Gauge<string>,
    @InjectMetric(METRIC.dedupSavedBytes) private readonly dedupSavedBytes: Gauge<string>,
    @InjectMetric(METRIC.evictedBytes) private readonly evictedBytes: Counter<string>,
    @InjectMetric(METRIC.collectedBytes) private readonly collectedBytes: Counter<string>,
    @InjectMetric(METRIC.inflightStreams) private readonly inflightStreams: Counter<string>,
    @InjectMetric(METRIC.remoteUp) private readonly remoteUp: Gauge<string>,
    @InjectMetric(METRIC.upstreamRequests) private readonly upstreamRequests: Counter<string>,
    @InjectMetric(METRIC.upstreamRateLimitRemaining)
    private readonly rateLimitRemaining: Gauge<string>,
    @InjectMetric(METRIC.upstreamRateLimitLimit) private readonly rateLimitLimit: Gauge<string>,
    @InjectMetric(METRIC.upstreamRequestsSaved) private readonly requestsSaved: Counter<string>,
    @InjectMetric(METRIC.upstreamThrottled) private readonly throttled: Counter<string>,
  ) {
    this.requestCounts = BatchedCounter.of(requests, METRICS.requests.labels);
    this.hitCounts = BatchedCounter.of(cacheHits, METRICS.cacheHits.labels);
    this.savedCounts = BatchedCounter.of(requestsSaved, METRICS.upstreamRequestsSaved.labels);
    this.servedCounts = BatchedCounter.of(servedBytes, METRICS.servedBytes.labels);
  }

  request(
    remote: string,
    route: string,
    source: ArtifactSource | 'none',
    status: number,
    seconds: number,
  ): void {
    const statusClass = STATUS_CLASSES[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`;
    this.requestCounts.inc([remote, route, source, statusClass]);
    this.requestDuration.observe([remote, route], seconds);
  }

  /** A hit is also an upstream request saved. */
  cacheHit(remote: string): void {
    this.hitCounts.inc([remote]);
    this.savedCounts.inc([remote, 'hit']);
  }

  upstreamRequestSaved(remote: string, reason: Exclude<SavedRequest, 'hit'>): void {
    this.savedCounts.inc([remote, reason]);
  }

  upstreamThrottled(remote: string, limit: UpstreamLimit): void {
    this.throttled.inc({ remote, limit });
  }

  cacheMiss(remote: string): void {
    this.cacheMisses.inc({ remote });
  }

  stale(remote: string, reason: string): void {
    this.staleServed.inc({ remote, reason });
  }

  /**
   * This process's totals since it started, per remote: requests by artifact source (`none`:
   * answered with no artifact, errors included) and bytes of artifacts served.
   */
  async trafficTotals(): Promise<Map<string, RemoteTraffic>> {
    const totals = new Map<string, RemoteTraffic>();
    const of = (remote: string): RemoteTraffic => {
      let traffic = totals.get(remote);
      if (traffic === undefined) {
        traffic = { requests: {}, bytes: 0 };
        totals.set(remote, traffic);
      }
      return traffic;
    };
    for (const { labels, value } of (await this.requests.get()).values) {
      const traffic = of(String(labels.remote));
      const source = String(labels.source);
      traffic.requests[source] = (traffic.requests[source] ?? 0) + value;
    }
    for (const { labels, value } of (await this.servedBytes.get()).values) {
      of(String(labels.remote)).bytes += value;
    }
    return totals;
  }

  served(remote: string, source: ArtifactSource, bytes: number): void {
    this.servedCounts.inc([remote, source], bytes);
  }

  fetched(remote: string, outcome: string, seconds: number, bytes: number): void {
    this.fetchDuration.observe([remote, outcome], seconds);
    if (bytes > 0) {
      this.fetchedBytes.inc({ remote }, bytes);
    }
  }

  fetchFailed(remote: string, reason: string): void {
    this.fetchFailures.inc({ remote, reason });
  }

  revalidated(remote: string, result: RevalidationResult): void {
    this.revalidations.inc({ remote, result });
  }

  queueDepth(state: QueueState, count: number): void {
    this.queueJobs.set({ state }, count);
  }

  storageUsage(remote: string, objects: number, bytes: number): void {
    this.storageObjects.set({ remote }, objects);
    this.storageBytes.set({ remote }, bytes);
  }

  dedupSaved(bytes: number): void {
    this.dedupSavedBytes.set(bytes);
  }

  evicted(remote: string, reason: 'size' | 'unused', bytes: number): void {
    this.evictedBytes.inc({ remote, reason }, bytes);
  }

  collected(bytes: number): void {
    this.collectedBytes.inc(bytes);
  }

  inflightStream(via: 'spool_file' | 'http'): void {
    this.inflightStreams.inc({ via });
  }

  remoteState(remote: string, up: boolean): void {
    this.remoteUp.set({ remote }, up ? 1 : 0);
  }

  /** `status`: the answer's status, or null when none came (a network error, a timeout). */
  upstreamRequest(remote: string, method: string, status: number | null): void {
    const statusClass = status === null ? 'error' : `${Math.floor(status / 100)}xx`;
    this.upstreamRequests.inc({ remote, method, status: statusClass });
  }

  upstreamRateLimit(remote: string, limit: number | null, remaining: number | null): void {
    if (limit !== null) {
      this.rateLimitLimit.set({ remote }, limit);
    }
    if (remaining !== null) {
      this.rateLimitRemaining.set({ remote }, remaining);
    }
  }
}
