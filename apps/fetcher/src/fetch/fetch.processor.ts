import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { type Job, UnrecoverableError, type WorkerOptions } from 'bullmq';
import {
  FETCH_JOB,
  FETCH_QUEUE,
  type FetchJobPayload,
  type FetchJobResult,
  METADATA_FETCH_QUEUE,
} from '@app/jobs';
import { FetchService } from './fetch.service';

// A killed fetcher's job is noticed within about lockDuration + stalledInterval and retried
// elsewhere; maxStalledCount lets a job survive a few such deaths before it is failed.
const WORKER_OPTIONS: Partial<WorkerOptions> = {
  concurrency: 16,
  lockDuration: 15_000,
  stalledInterval: 5_000,
  maxStalledCount: 3,
};

/**
 * One lane's worker; both lanes run the same fetch, with their own concurrency. (@Injectable so
 * that the constructor's parameter types are emitted for the subclasses to inherit.)
 */
@Injectable()
abstract class FetchWorker extends WorkerHost {
  private readonly logger = new Logger(this.constructor.name);

  constructor(private readonly fetchService: FetchService) {
    super();
  }

  /** `signal` aborts when an operator cancels the job (see FetchCancellation). */
  async process(
    job: Job<FetchJobPayload, FetchJobResult>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<FetchJobResult> {
    if (job.name !== FETCH_JOB) {
      this.logger.error(`job ${job.id} has unknown name ${job.name}`);
      throw new UnrecoverableError(`no handler for job ${job.name}`);
    }
    return this.fetchService.run(job, signal);
  }

  /** True when the job runs here and was told to stop. */
  cancel(jobId: string): boolean {
    return this.worker.cancelJob(jobId, 'cancelled by an operator');
  }
}

@Processor(FETCH_QUEUE, WORKER_OPTIONS)
export class FetchProcessor extends FetchWorker {}

/** Index files, manifests, tag lists and revalidations: never queued behind large downloads. */
@Processor(METADATA_FETCH_QUEUE, WORKER_OPTIONS)
export class MetadataFetchProcessor extends FetchWorker {}
