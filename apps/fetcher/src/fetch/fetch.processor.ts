import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { FETCH_JOB, FETCH_QUEUE, type FetchJobPayload, type FetchJobResult } from '@app/jobs';
import { FetchService } from './fetch.service';

// A killed fetcher's job is noticed within about lockDuration + stalledInterval and retried
// elsewhere; maxStalledCount lets a job survive a few such deaths before it is failed.
@Processor(FETCH_QUEUE, {
  concurrency: 16,
  lockDuration: 15_000,
  stalledInterval: 5_000,
  maxStalledCount: 3,
})
export class FetchProcessor extends WorkerHost {
  private readonly logger = new Logger(FetchProcessor.name);

  constructor(private readonly fetchService: FetchService) {
    super();
  }

  async process(job: Job<FetchJobPayload, FetchJobResult>): Promise<FetchJobResult> {
    if (job.name !== FETCH_JOB) {
      this.logger.error(`job ${job.id} has unknown name ${job.name}`);
      throw new UnrecoverableError(`no handler for job ${job.name}`);
    }
    return this.fetchService.run(job);
  }
}
