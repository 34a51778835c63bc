import { Inject, Injectable } from '@nestjs/common';
import type { JobType } from 'bullmq';
import type { Redis } from 'ioredis';
import { REDIS } from '@app/cache';
import { ArtifactError } from '@app/common';
import {
  FETCH_CANCEL_CHANNEL,
  MAX_INSPECTED_JOBS,
  QUEUE_DEPTH_STATES,
  queueDepth,
  splitActiveJobs,
} from '@app/jobs';
import type { QueueState } from '@app/metrics';
import { type FetchJob, type FetchQueue, FetchQueues } from '../../fetching/fetch-queues.service';

const QUEUE_STATES: readonly QueueState[] = QUEUE_DEPTH_STATES;

/** A fetch job as operators see it (JSON API and docs). */
export interface JobView {
  id: string;
  /** the lane: artifact-fetch (content) or artifact-fetch-metadata */
  queue: string;
  state: QueueState;
  remote: string;
  path: string;
  kind: string;
  age_seconds: number;
  attempts_made: number;
  max_attempts: number;
  stalled_count: number;
  last_error: string | null;
  progress: unknown;
  /** 0 for a client's fetch; warm-up fetches wait behind those with a higher number */
  priority: number;
  created_at: string;
  processed_at: string | null;
  finished_at: string | null;
}

const MAX_LISTED = MAX_INSPECTED_JOBS;
/** How long a cancel waits for the fetcher running the job to let go of it. */
const CANCEL_WAIT_MS = 10_000;

/**
 * Queue inspection for operators: fetch jobs by state, with what they fetch and why they failed;
 * retry and remove. "stalled" is an active job whose lock has expired: its fetcher died, and
 * the job waits for a fetcher's stalled-job check (or a retry from here).
 */
@Injectable()
export class QueueInspectionService {
  constructor(
    private readonly queues: FetchQueues,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** Jobs by state, both lanes together. */
  async counts(): Promise<Record<QueueState, number>> {
    const total: Record<QueueState, number> = {
      waiting: 0,
      active: 0,
      stalled: 0,
      delayed: 0,
      failed: 0,
      completed: 0,
    };
    for (const queue of this.queues.all()) {
      const depth = await queueDepth(queue);
      for (const state of QUEUE_DEPTH_STATES) {
        total[state] += depth[state];
      }
    }
    return total;
  }

  async jobs(state: string, limit: number): Promise<JobView[]> {
    const wanted = QUEUE_STATES.find((known) => known === state);
    if (!wanted) {
      throw new ArtifactError('bad_request', `state must be one of ${QUEUE_STATES.join(', ')}`);
    }
    const count = Math.min(Math.max(1, limit), MAX_LISTED);
    const views: JobView[] = [];
    for (const queue of this.queues.all()) {
      if (wanted === 'stalled' || wanted === 'active') {
        const split = await splitActiveJobs(queue);
        const jobs = wanted === 'stalled' ? split.stalled : split.running;
        views.push(...jobs.map((job) => view(job, wanted, queue.name)));
      } else {
        // Prioritized jobs (warm-ups behind client misses) are waiting too.
        const states: JobType[] = wanted === 'waiting' ? ['waiting', 'prioritized'] : [wanted];
        const jobs = await queue.getJobs(states, 0, count - 1, true);
        views.push(...jobs.filter(Boolean).map((job) => view(job, wanted, queue.name)));
      }
    }
    return views.sort((a, b) => a.created_at.localeCompare(b.created_at)).slice(0, count);
  }

  /** failed → waiting; stalled → waiting; delayed (backing off) → now. A running job is refused. */
  async retry(id: string): Promise<JobView> {
    const { queue, job } = await this.find(id);
    const state = await job.getState();
    if (state === 'failed') {
      await job.retry('failed', { resetAttemptsMade: true });
    } else if (state === 'active') {
      if (await this.isRunning(queue, job)) {
        throw new ArtifactError(
          'conflict',
          `job ${id} is running on a fetcher; cancel it first (POST .../jobs/${id}/cancel)`,
        );
      }
      // Token "0" skips the lock check, which is right for a job whose fetcher is gone.
      await job.moveToWait('0');
    } else if (state === 'delayed') {
      await job.promote();
    } else {
      throw new ArtifactError(
        'conflict',
        `job ${id} is ${state}; only failed, stalled or delayed jobs can be retried`,
      );
    }
    const after = await this.find(id);
    return view(after.job, (await after.job.getState()) as QueueState, queue.name);
  }

  /**
   * Stops a running fetch: the fetcher that runs it aborts it, and it fails as `cancelled` (then
   * retry or remove it like any failed job). Answers once it has left the active state, or with
   * 503 when no fetcher acted within CANCEL_WAIT_MS.
   */
  async cancel(id: string): Promise<JobView> {
    const { queue, job } = await this.find(id);
    if ((await job.getState()) !== 'active' || !(await this.isRunning(queue, job))) {
      throw new ArtifactError(
        'conflict',
        `job ${id} is not running; only running jobs can be cancelled`,
      );
    }
    await this.redis.publish(FETCH_CANCEL_CHANNEL, id);
    const until = Date.now() + CANCEL_WAIT_MS;
    while (Date.now() < until) {
      const state = await job.getState();
      if (state !== 'active') {
        return view((await this.find(id)).job, state as QueueState, queue.name);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new ArtifactError(
      'service_unavailable',
      `job ${id} is still running ${CANCEL_WAIT_MS / 1000} s after the cancel; is its fetcher partitioned from Redis?`,
      { retryAfter: 5 },
    );
  }

  async remove(id: string): Promise<void> {
    const { queue, job } = await this.find(id);
    if ((await job.getState()) === 'active' && (await this.isRunning(queue, job))) {
      throw new ArtifactError(
        'conflict',
        `job ${id} is running on a fetcher; cancel it first (POST .../jobs/${id}/cancel)`,
      );
    }
    await job.remove();
  }

  private async find(id: string): Promise<{ queue: FetchQueue; job: FetchJob }> {
    const found = await this.queues.find(id);
    if (!found) {
      throw new ArtifactError('not_found', `no job ${id}`);
    }
    return found;
  }

  private async isRunning(queue: FetchQueue, job: FetchJob): Promise<boolean> {
    return (await splitActiveJobs(queue)).running.some((running) => running.id === job.id);
  }
}

function view(job: FetchJob, state: QueueState, queue: string): JobView {
  const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);
  return {
    id: job.id ?? '',
    queue,
    state,
    remote: job.data.remote,
    path: job.data.path,
    kind: job.data.kind,
    age_seconds: Math.round((Date.now() - job.timestamp) / 1000),
    attempts_made: job.attemptsMade,
    max_attempts: job.opts.attempts ?? 1,
    stalled_count: job.stalledCounter ?? 0,
    last_error: job.failedReason || null,
    progress: job.progress,
    priority: job.priority ?? 0,
    created_at: new Date(job.timestamp).toISOString(),
    processed_at: iso(job.processedOn),
    finished_at: iso(job.finishedOn),
  };
}
