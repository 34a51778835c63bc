import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import {
  WARM_JOB,
  WARM_KEEP_SECONDS,
  WARM_QUEUE,
  type WarmJobPayload,
  type WarmProgress,
  type WarmResult,
  queueCall,
} from '@app/jobs';
import { parseWarmRequest } from './warm-request';
import { type WarmView, warmView } from './warm-view';

type WarmQueue = Queue<WarmJobPayload, WarmResult>;
type WarmJob = Job<WarmJobPayload, WarmResult>;

/** The longest `?wait=` a request may hold its connection for. */
export const MAX_WAIT_SECONDS = 600;
const POLL_MS = 500;
const NO_PROGRESS: WarmProgress = { total: 0, fetched: 0, cached: 0, failed: 0, bytes: 0 };

/** Warm-ups on the warm queue: started here, run by a fetcher, read back by id. */
@Injectable()
export class WarmUps {
  private readonly logger = new Logger(WarmUps.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectQueue(WARM_QUEUE) private readonly queue: WarmQueue,
  ) {}

  /** Queues the warm-up the body lists; a body with any problem queues nothing (400). */
  async start(body: unknown, waitSeconds: number, signal: AbortSignal): Promise<WarmView> {
    const request = parseWarmRequest(body, this.config.remotes);
    if (!request.ok) {
      throw new ArtifactError('bad_request', request.problems.join('; '));
    }
    const id = `warm-${randomUUID()}`;
    const payload: WarmJobPayload = {
      files: request.files,
      images: request.images,
      requestedAt: Date.now(),
    };
    await this.call(
      this.queue.add(WARM_JOB, payload, {
        jobId: id,
        // A fetcher that dies mid-way leaves it to another, which finds what is cached by then.
        attempts: 2,
        removeOnComplete: { age: WARM_KEEP_SECONDS },
        removeOnFail: { age: WARM_KEEP_SECONDS },
      }),
    );
    this.logger.log(
      `warm-up ${id} queued: ${request.files.length} files, ${request.images.length} images`,
    );
    return this.view(id, waitSeconds, signal);
  }

  /** The warm-up, once done or after `waitSeconds`, whichever comes first. */
  async view(id: string, waitSeconds: number, signal: AbortSignal): Promise<WarmView> {
    const until = Date.now() + Math.min(Math.max(0, waitSeconds), MAX_WAIT_SECONDS) * 1000;
    for (;;) {
      const job = await this.call(this.queue.getJob(id));
      if (!job || job.name !== WARM_JOB) {
        throw new ArtifactError('not_found', `no warm-up ${id} (finished ones are kept for a day)`);
      }
      const view = await this.describe(job);
      if (view.state === 'completed' || view.state === 'failed' || Date.now() >= until) {
        return view;
      }
      await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) {
        return view;
      }
    }
  }

  private async describe(job: WarmJob): Promise<WarmView> {
    const state = await this.call(job.getState());
    const result = state === 'completed' ? job.returnvalue : null;
    const progress =
      typeof job.progress === 'object' && job.progress !== null
        ? (job.progress as unknown as WarmProgress)
        : NO_PROGRESS;
    return warmView({
      id: job.id ?? '',
      state: state === 'completed' || state === 'failed' || state === 'active' ? state : 'waiting',
      requested_at: new Date(job.timestamp).toISOString(),
      finished_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      progress: result
        ? {
            total: result.total,
            fetched: result.fetched,
            cached: result.cached,
            failed: result.failed,
            bytes: result.bytes,
          }
        : progress,
      items: result?.items ?? null,
      error: state === 'failed' ? (job.failedReason ?? null) : null,
    });
  }

  private call<T>(work: Promise<T>): Promise<T> {
    return queueCall(work, 'warm-up');
  }
}
