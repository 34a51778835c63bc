import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import {
  FETCH_QUEUE,
  type FetchJobPayload,
  type FetchJobResult,
  type FetchQueueName,
  METADATA_FETCH_QUEUE,
} from '@app/jobs';

export type FetchQueue = Queue<FetchJobPayload, FetchJobResult>;
export type FetchJob = Job<FetchJobPayload, FetchJobResult>;

/** Both fetch lanes (content and metadata) of the gateway, by name. */
@Injectable()
export class FetchQueues {
  private readonly byName: ReadonlyMap<FetchQueueName, FetchQueue>;

  constructor(
    @InjectQueue(FETCH_QUEUE) content: FetchQueue,
    @InjectQueue(METADATA_FETCH_QUEUE) metadata: FetchQueue,
  ) {
    this.byName = new Map([
      [FETCH_QUEUE, content],
      [METADATA_FETCH_QUEUE, metadata],
    ]);
  }

  get(name: FetchQueueName): FetchQueue {
    return this.byName.get(name) as FetchQueue;
  }

  all(): FetchQueue[] {
    return [...this.byName.values()];
  }

  /** A job by id, in whichever lane holds it (ids never repeat across lanes: one per artifact). */
  async find(id: string): Promise<{ queue: FetchQueue; job: FetchJob } | null> {
    for (const queue of this.byName.values()) {
      const job = await queue.getJob(id);
      if (job) {
        return { queue, job };
      }
    }
    return null;
  }
}
