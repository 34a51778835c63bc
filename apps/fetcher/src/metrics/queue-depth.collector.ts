import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { FETCH_QUEUE, type FetchJobPayload, type FetchJobResult, splitActiveJobs } from '@app/jobs';
import { MetricsService } from '@app/metrics';

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
    @InjectQueue(FETCH_QUEUE) private readonly queue: Queue<FetchJobPayload, FetchJobResult>,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
    void this.refresh();
  }

  async refresh(): Promise<void> {
    try {
      const counts = await this.queue.getJobCounts(...STATES);
      const stalled = (await splitActiveJobs(this.queue)).stalled.length;
      for (const state of STATES) {
        this.metrics.queueDepth(state, (counts[state] ?? 0) - (state === 'active' ? stalled : 0));
      }
      this.metrics.queueDepth('stalled', stalled);
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
