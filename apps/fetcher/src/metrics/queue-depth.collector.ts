import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Queue } from 'bullmq';
import {
  FETCH_QUEUE,
  type FetchJobPayload,
  type FetchJobResult,
  METADATA_FETCH_QUEUE,
  splitActiveJobs,
} from '@app/jobs';
import { MetricsService, type QueueState } from '@app/metrics';

const REFRESH_MS = 5000;
const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/**
 * artifactcache_queue_jobs{state}: the fetch queue's depth, refreshed in the background; `stalled`
 * counts active jobs whose fetcher died (no lock), `active` the ones really running.
 */
@Injectable()
export class QueueDepthCollector implements OnModuleInit, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @InjectQueue(FETCH_QUEUE) private readonly content: Queue<FetchJobPayload, FetchJobResult>,
    @InjectQueue(METADATA_FETCH_QUEUE)
    private readonly metadata: Queue<FetchJobPayload, FetchJobResult>,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
    void this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const depth = new Map<string, number>();
      for (const queue of [this.content, this.metadata]) {
        const counts = await queue.getJobCounts(...STATES);
        const stalled = (await splitActiveJobs(queue)).stalled.length;
        for (const state of STATES) {
          const count = (counts[state] ?? 0) - (state === 'active' ? stalled : 0);
          depth.set(state, (depth.get(state) ?? 0) + count);
        }
        depth.set('stalled', (depth.get('stalled') ?? 0) + stalled);
      }
      for (const [state, count] of depth) {
        this.metrics.queueDepth(state as QueueState, count);
      }
    } catch {
      // Redis is down: keep the last known depth; /health reports Redis.
    }
  }

  onApplicationShutdown(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
  }
}
