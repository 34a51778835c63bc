import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Queue } from 'bullmq';
import {
  FETCH_QUEUE,
  type FetchJobPayload,
  type FetchJobResult,
  METADATA_FETCH_QUEUE,
  QUEUE_DEPTH_STATES,
  queueDepth,
} from '@app/jobs';
import { MetricsService } from '@app/metrics';

const REFRESH_MS = 5000;

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
      const lanes = await Promise.all([this.content, this.metadata].map(queueDepth));
      for (const state of QUEUE_DEPTH_STATES) {
        this.metrics.queueDepth(
          state,
          lanes.reduce((sum, lane) => sum + lane[state], 0),
        );
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
