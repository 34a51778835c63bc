import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { JobsOptions, Queue } from 'bullmq';
import type { Readable } from 'node:stream';
import { ArtifactError, type ArtifactErrorCode } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import {
  FETCH_JOB,
  FETCH_QUEUE,
  type FetchFailureReason,
  type FetchJobPayload,
  type FetchJobResult,
  type FetchProgress,
  type StreamingProgress,
  fetchJobId,
  parseFailure,
} from '@app/jobs';
import { type FetchEventInbox, FetchEventsService } from './fetch-events.service';
import { FetcherPresence } from './fetcher-presence.service';
import { InflightStreamClient } from './inflight-stream.client';

export type FetchOutcome =
  /** the fetch is running: headers are known and `body` follows it from byte 0 */
  | { kind: 'streaming'; progress: StreamingProgress; body: Readable }
  /** the job finished (published, unchanged or kept stale) before or without streaming */
  | { kind: 'finished'; result: FetchJobResult };

export type FetchRequest = Omit<FetchJobPayload, 'requestedAt'>;

const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  // A completed job must not make a later request skip a needed fetch (after a flush or an
  // expiry), so it is removed at once; its outcome travels in the completion event.
  removeOnComplete: true,
  // Failed jobs stay for inspection; the next request for the artifact removes and re-adds it.
  removeOnFail: { age: 24 * 3600, count: 5000 },
};

const RETRY_AFTER_SECONDS = 5;

/**
 * The miss path's side of the queue: adds (or joins) the one job of an artifact and waits for
 * the first useful event, on any gateway replica.
 */
@Injectable()
export class FetchCoordinator {
  constructor(
    @InjectQueue(FETCH_QUEUE) private readonly queue: Queue<FetchJobPayload, FetchJobResult>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: FetchEventsService,
    private readonly streams: InflightStreamClient,
    private readonly fetchers: FetcherPresence,
  ) {}

  async fetch(
    request: FetchRequest,
    streamSilenceMs: number,
    signal?: AbortSignal,
  ): Promise<FetchOutcome> {
    const jobId = fetchJobId(request.remote, request.path);
    // Subscribe before adding: an event between the add and the subscription would be lost.
    const inbox = this.events.watch(jobId);
    const deadline = Date.now() + this.config.fetchWaitTimeout * 1000;
    try {
      await this.enqueue(jobId, request, inbox);
      for (;;) {
        const event = await inbox.next(
          Math.min(deadline, Date.now() + PRESENCE_RECHECK_MS),
          signal,
        );
        if (!event) {
          if (signal?.aborted) {
            throw new ArtifactError('fetch_timeout', 'client went away');
          }
          if (Date.now() < deadline) {
            // Nothing yet: fine while a fetcher is there to take the job, a 503 if none is left.
            await this.requireFetcher();
            continue;
          }
          throw new ArtifactError(
            'fetch_timeout',
            `the fetch of ${request.path} did not start within ${this.config.fetchWaitTimeout} s`,
          );
        }
        switch (event.type) {
          case 'progress': {
            if (event.progress.phase === 'retrying') {
              throw failureError(event.progress.failure);
            }
            const body = await this.streams.open(event.progress.streamUrl, streamSilenceMs, signal);
            if (body) {
              return { kind: 'streaming', progress: event.progress, body };
            }
            break;
          }
          case 'completed':
            return { kind: 'finished', result: event.result };
          case 'failed':
            throw failureError(event.failure);
        }
      }
    } finally {
      inbox.close();
    }
  }

  private async requireFetcher(): Promise<void> {
    if (!(await this.fetchers.anyAlive())) {
      throw new ArtifactError(
        'service_unavailable',
        'no fetcher is running; cached files are still served',
        {
          retryAfter: RETRY_AFTER_SECONDS,
        },
      );
    }
  }

  private async enqueue(
    jobId: string,
    request: FetchRequest,
    inbox: FetchEventInbox,
  ): Promise<void> {
    try {
      for (let round = 0; round < 3; round += 1) {
        await this.queue.add(
          FETCH_JOB,
          { ...request, requestedAt: Date.now() },
          { ...JOB_OPTIONS, jobId },
        );
        const job = await this.queue.getJob(jobId);
        if (!job) {
          // Finished and removed in between: its completion event is already in the inbox.
          return;
        }
        const state = await job.getState();
        if (state === 'failed') {
          // An earlier request's failure; this request fetches again.
          await job.remove().catch(() => undefined);
          continue;
        }
        if (state === 'completed') {
          inbox.push({ type: 'completed', result: job.returnvalue });
          return;
        }
        const progress = job.progress as FetchProgress | number;
        if (typeof progress === 'object' && progress?.phase === 'streaming') {
          // Joining a running fetch: its headers were announced before this request arrived.
          inbox.push({ type: 'progress', progress });
        }
        return;
      }
    } catch (error) {
      throw new ArtifactError(
        'service_unavailable',
        `the fetch queue is unavailable (${(error as Error).message}); cached files are still served`,
        { retryAfter: RETRY_AFTER_SECONDS },
      );
    }
  }
}

const PRESENCE_RECHECK_MS = 3000;

const FAILURE_CODES: Record<FetchFailureReason, ArtifactErrorCode> = {
  upstream_not_found: 'upstream_not_found',
  upstream_integrity: 'upstream_integrity',
  upstream_unavailable: 'upstream_unavailable',
  storage_unavailable: 'storage_unavailable',
  redis_unavailable: 'service_unavailable',
};

function failureError(failure: string): ArtifactError {
  const { reason, message } = parseFailure(failure);
  return new ArtifactError(
    FAILURE_CODES[reason],
    message,
    reason === 'redis_unavailable' ? { retryAfter: RETRY_AFTER_SECONDS } : undefined,
  );
}
