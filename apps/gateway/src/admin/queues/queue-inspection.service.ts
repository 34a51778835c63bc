import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { ArtifactError } from '@app/common';
import {
  FETCH_QUEUE,
  type FetchJobPayload,
  type FetchJobResult,
  MAX_INSPECTED_JOBS,
  splitActiveJobs,
} from '@app/jobs';
import type { QueueState } from '@app/metrics';

export const QUEUE_STATES: readonly QueueState[] = [
  'waiting',
  'active',
  'stalled',
  'delayed',
  'failed',
  'completed',
];

/** A fetch job as operators see it (JSON API and docs). */
export interface JobView {
  id: string;
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
  created_at: string;
  processed_at: string | null;
  finished_at: string | null;
}

const MAX_LISTED = MAX_INSPECTED_JOBS;

/**
 * Queue inspection for operators: fetch jobs by state, with what they fetch and why they failed;
 * retry and remove. "stalled" is an active job whose lock has expired: its fetcher died, and
 * the job waits for a fetcher's stalled-job check (or a retry from here).
 */
@Injectable()
export class QueueInspectionService {
  constructor(
    @InjectQueue(FETCH_QUEUE) private readonly queue: Queue<FetchJobPayload, FetchJobResult>,
  ) {}

  async counts(): Promise<Record<QueueState, number>> {
    const counts = await this.queue.getJobCounts(
      'waiting',
      'active',
      'delayed',
      'failed',
      'completed',
    );
    const stalled = (await splitActiveJobs(this.queue)).stalled.length;
    return {
      waiting: counts.waiting ?? 0,
      active: (counts.active ?? 0) - stalled,
      stalled,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
      completed: counts.completed ?? 0,
    };
  }

  async jobs(state: string, limit: number): Promise<JobView[]> {
    const wanted = QUEUE_STATES.find((known) => known === state);
    if (!wanted) {
      throw new ArtifactError('bad_request', `state must be one of ${QUEUE_STATES.join(', ')}`);
    }
    const count = Math.min(Math.max(1, limit), MAX_LISTED);
    if (wanted === 'stalled' || wanted === 'active') {
      const split = await splitActiveJobs(this.queue);
      const jobs = wanted === 'stalled' ? split.stalled : split.running;
      return jobs.slice(0, count).map((job) => view(job, wanted));
    }
    const jobs = await this.queue.getJobs([wanted], 0, count - 1, true);
    return jobs.filter(Boolean).map((job) => view(job, wanted));
  }

  /** failed → waiting; stalled → waiting; delayed (backing off) → now. A running job is refused. */
  async retry(id: string): Promise<JobView> {
    const job = await this.find(id);
    const state = await job.getState();
    if (state === 'failed') {
      await job.retry('failed', { resetAttemptsMade: true });
    } else if (state === 'active') {
      if (await this.isRunning(job)) {
        throw new ArtifactError(
          'conflict',
          `job ${id} is running on a fetcher; it cannot be retried now`,
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
    return view(await this.find(id), (await job.getState()) as QueueState);
  }

  async remove(id: string): Promise<void> {
    const job = await this.find(id);
    if ((await job.getState()) === 'active' && (await this.isRunning(job))) {
      throw new ArtifactError(
        'conflict',
        `job ${id} is running on a fetcher; it cannot be removed now`,
      );
    }
    await job.remove();
  }

  private async find(id: string): Promise<Job<FetchJobPayload, FetchJobResult>> {
    const job = await this.queue.getJob(id);
    if (!job) {
      throw new ArtifactError('not_found', `no job ${id}`);
    }
    return job;
  }

  private async isRunning(job: Job): Promise<boolean> {
    return (await splitActiveJobs(this.queue)).running.some((running) => running.id === job.id);
  }
}

function view(job: Job<FetchJobPayload, FetchJobResult>, state: QueueState): JobView {
  const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);
  return {
    id: job.id ?? '',
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
    created_at: new Date(job.timestamp).toISOString(),
    processed_at: iso(job.processedOn),
    finished_at: iso(job.finishedOn),
  };
}
