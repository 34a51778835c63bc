import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import {
  FETCH_FAILURE_CODES,
  FETCH_JOB,
  FETCH_JOB_OPTIONS,
  type FetchJobResult,
  type FetchProgress,
  type FetchRequest,
  type StreamingProgress,
  fetchJobId,
  fetchQueueFor,
  parseFailure,
  queueCall,
} from '@app/jobs';
import { MetricsService } from '@app/metrics';
import { isSendable } from '@app/storage';
import { type FetchEventInbox, FetchEventsService } from './fetch-events.service';
import { type FetchJob, type FetchQueue, FetchQueues } from './fetch-queues.service';
import { FetcherPresence } from './fetcher-presence.service';
import { InflightStreamClient } from './inflight-stream.client';

export type FetchOutcome =
  /** the fetch is running: headers are known and `body` follows it from byte 0 */
  | { kind: 'streaming'; progress: StreamingProgress; body: Readable }
  /** the job finished (published, unchanged or kept stale) before or without streaming */
  | { kind: 'finished'; result: FetchJobResult };

const RETRY_AFTER_SECONDS = 5;
/**
 * Without an event for this long, a waiter looks at its job itself: events are lost when Redis
 * restarts or fails over, a job can be removed from the queue UI, and a fetcher can die before it
 * announced anything. Each look costs two Redis round trips per waiting request.
 */
const RECHECK_MS = 3000;
/** How often a waiter re-adds a job that vanished before giving up with a 503. */
const MAX_ENQUEUE_ROUNDS = 3;

/**
 * The miss path's side of the queue: adds (or joins) the one job of an artifact and waits for
 * the first useful event, on any gateway replica. Every wait is bounded: a queue call by
 * queueCall's deadline, the whole wait for a job to start by FETCH_WAIT_TIMEOUT, and a job that
 * failed, finished or vanished without its event reaching us is noticed within RECHECK_MS.
 */
@Injectable()
export class FetchCoordinator {
  private readonly logger = new Logger(FetchCoordinator.name);

  constructor(
    private readonly queues: FetchQueues,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: FetchEventsService,
    private readonly streams: InflightStreamClient,
    private readonly fetchers: FetcherPresence,
    private readonly metrics: MetricsService,
  ) {}

  async fetch(
    request: FetchRequest,
    streamSilenceMs: number,
    signal?: AbortSignal,
  ): Promise<FetchOutcome> {
    const jobId = fetchJobId(request.remote, request.path);
    const queueName = fetchQueueFor(request);
    const queue = this.queues.get(queueName);
    // Subscribe before adding: an event between the add and the subscription would be lost.
    const inbox = this.events.watch(jobId);
    const deadline = Date.now() + this.config.fetchWaitTimeout * 1000;
    let rounds = 0;
    try {
      let awaited = await this.enqueue(queue, jobId, request, inbox);
      rounds += 1;
      for (;;) {
        const event = await inbox.next(Math.min(deadline, Date.now() + RECHECK_MS), signal);
        if (!event) {
          if (signal?.aborted) {
            throw new ArtifactError('fetch_timeout', 'client went away');
          }
          if (Date.now() >= deadline) {
            throw new ArtifactError(
              'fetch_timeout',
              `the fetch of ${request.path} did not start within ${this.config.fetchWaitTimeout} s`,
              { retryAfter: RETRY_AFTER_SECONDS },
            );
          }
          await this.requireFetcher(queue);
          const job = await this.queueCall(queue.getJob(jobId));
          if (job) {
            await this.replayFinalState(queue, job, inbox);
            continue;
          }
          if (rounds >= MAX_ENQUEUE_ROUNDS) {
            throw new ArtifactError(
              'service_unavailable',
              `the fetch job of ${request.path} vanished ${rounds} times`,
              { retryAfter: RETRY_AFTER_SECONDS },
            );
          }
          this.logger.warn(
            `fetch job ${jobId} (${request.remote} ${request.path}) vanished; adding it again`,
          );
          awaited = await this.enqueue(queue, jobId, request, inbox);
          rounds += 1;
          continue;
        }
        switch (event.type) {
          case 'progress': {
            if (event.progress.phase === 'retrying') {
              throw failureError(event.progress.failure);
            }
            const body = await this.streams.open(event.progress, streamSilenceMs, signal);
            if (body && (await startsStreaming(body, signal))) {
              return { kind: 'streaming', progress: event.progress, body };
            }
            break;
          }
          case 'completed':
            if (
              isAnotherJobs(event.result.enqueueId, awaited) &&
              (await this.stillRunning(queue, jobId, awaited))
            ) {
              // An earlier job with this id finished; the one this request added is still to come.
              break;
            }
            return { kind: 'finished', result: event.result };
          case 'failed':
            if (awaited !== null && (await this.stillRunning(queue, jobId, awaited))) {
              // An earlier job with this id, whose failure this request replaced.
              break;
            }
            throw failureError(event.failure);
        }
      }
    } finally {
      inbox.close();
    }
  }

  /**
   * Adds the job, or joins the one there. A failed job with the same id is an earlier request's
   * failure, removed so that this request fetches again, unless it is the job this call added
   * (it can fail within a millisecond): `enqueueId` tells them apart.
   */
  private async enqueue(
    queue: FetchQueue,
    jobId: string,
    request: FetchRequest,
    inbox: FetchEventInbox,
  ): Promise<string | null> {
    const enqueueId = randomUUID();
    for (let round = 0; round < 3; round += 1) {
      await this.queueCall(
        queue.add(
          FETCH_JOB,
          { ...request, requestedAt: Date.now(), enqueueId },
          { ...FETCH_JOB_OPTIONS, jobId },
        ),
      );
      const job = await this.queueCall(queue.getJob(jobId));
      if (!job) {
        // Finished and removed in between: its completion event is on its way (and which job's
        // it is cannot be told any more).
        return null;
      }
      const state = await this.queueCall(job.getState());
      if (state === 'failed' && job.data.enqueueId !== enqueueId) {
        await this.queueCall(job.remove()).catch(() => undefined);
        continue;
      }
      if (state === 'failed' || state === 'completed') {
        await this.replayFinalState(queue, job, inbox);
        return job.data.enqueueId ?? null;
      }
      if (job.data.enqueueId !== enqueueId) {
        // Another request's fetch of it is under way: this one follows it, no request of its own.
        this.metrics.upstreamRequestSaved(request.remote, 'coalesced');
      }
      if (state === 'prioritized') {
        // A warm-up queued it behind every client miss; now a client waits for it.
        await this.queueCall(job.changePriority({ priority: 0 }));
      }
      const progress = job.progress as FetchProgress | number;
      if (typeof progress === 'object' && progress?.phase === 'streaming') {
        // Joining a running fetch: its headers were announced before this request arrived.
        inbox.push({ type: 'progress', progress });
      }
      return job.data.enqueueId ?? null;
    }
    return null;
  }

  /**
   * Whether the job this request added (by enqueueId) is still there and not finished: then an
   * event of another job with the same id is not its answer. When it is gone (finished and
   * removed, or a failure of it replaced by another request's job) the event answers it.
   */
  private async stillRunning(
    queue: FetchQueue,
    jobId: string,
    awaited: string | null,
  ): Promise<boolean> {
    const job = await this.queueCall(queue.getJob(jobId));
    if (!job || job.data.enqueueId !== awaited) {
      return false;
    }
    const state = await this.queueCall(job.getState());
    return state !== 'failed' && state !== 'completed';
  }

  /** A job that already failed or finished: its event may be lost (or not here yet). */
  private async replayFinalState(
    queue: FetchQueue,
    job: FetchJob,
    inbox: FetchEventInbox,
  ): Promise<void> {
    const state = await this.queueCall(job.getState());
    if (state !== 'failed' && state !== 'completed') {
      return;
    }
    // `job` may have been read while it still ran: its failedReason and returnvalue are read
    // again now that it is done (a stale copy answered a client with an empty failure, a 502).
    const done = await this.queueCall(queue.getJob(job.id ?? ''));
    if (!done) {
      return;
    }
    if (state === 'failed') {
      inbox.push({ type: 'failed', failure: done.failedReason });
    } else {
      inbox.push({ type: 'completed', result: done.returnvalue });
    }
  }

  private async requireFetcher(queue: FetchQueue): Promise<void> {
    if (!(await this.fetchers.anyAlive(queue))) {
      throw new ArtifactError(
        'service_unavailable',
        'no fetcher is running; cached files are still served',
        { retryAfter: RETRY_AFTER_SECONDS },
      );
    }
  }

  private queueCall<T>(work: Promise<T>): Promise<T> {
    return queueCall(work, 'fetch');
  }
}

/**
 * Whether a body that follows the fetch got its first bytes (or its end). One cut before them
 * (the fetch failed its checks, the fetcher went away) is over, like an attempt that is not
 * there any more: its waiter goes on to the job's outcome, and so answers the fetch's own
 * failure (a digest mismatch is a 502) instead of a body that breaks before its first byte.
 */
async function startsStreaming(body: Readable, signal?: AbortSignal): Promise<boolean> {
  if (!isSendable(body)) {
    return true;
  }
  if (signal?.aborted) {
    body.destroy();
    return false;
  }
  const leave = (): void => {
    body.destroy();
  };
  signal?.addEventListener('abort', leave, { once: true });
  try {
    await body.firstBytes();
    return true;
  } catch {
    body.destroy();
    return false;
  } finally {
    signal?.removeEventListener('abort', leave);
  }
}

/** A completion from a job other than the one awaited (both known: older fetchers send none). */
function isAnotherJobs(producedBy: string | undefined, awaited: string | null): boolean {
  return producedBy !== undefined && awaited !== null && producedBy !== awaited;
}

/** Longest Retry-After passed on from an upstream: beyond an hour a client should ask again. */
const MAX_RETRY_AFTER_SECONDS = 3600;

function failureError(failedReason: string): ArtifactError {
  const failure = parseFailure(failedReason);
  const code = FETCH_FAILURE_CODES[failure.reason];
  const permanent = code === 'upstream_not_found' || code === 'upstream_integrity';
  const retryAfter =
    failure.retryAfter !== undefined
      ? Math.min(Math.max(1, failure.retryAfter), MAX_RETRY_AFTER_SECONDS)
      : RETRY_AFTER_SECONDS;
  return new ArtifactError(code, failure.message, permanent ? undefined : { retryAfter });
}
