import { Processor, WorkerHost } from '@nestjs/bullmq';
import { type Job, UnrecoverableError } from 'bullmq';
import { WARM_JOB, WARM_QUEUE, type WarmJobPayload, type WarmResult } from '@app/jobs';
import { WarmService } from './warm.service';

/**
 * Warm-ups, two at a time per fetcher: each mostly waits for the fetch jobs it added, which run
 * on the fetch lanes' own workers.
 */
@Processor(WARM_QUEUE, { concurrency: 2, lockDuration: 30_000, stalledInterval: 15_000 })
export class WarmProcessor extends WorkerHost {
  constructor(private readonly warm: WarmService) {
    super();
  }

  process(job: Job<WarmJobPayload, WarmResult>): Promise<WarmResult> {
    if (job.name !== WARM_JOB) {
      throw new UnrecoverableError(`no handler for job ${job.name}`);
    }
    return this.warm.run(job);
  }
}
