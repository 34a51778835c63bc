import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { QueueEvents } from 'bullmq';
import { bullConnectionOptions } from '@app/cache';
import { APP_CONFIG, type AppConfig } from '@app/config';
import {
  FETCH_QUEUES,
  type FetchJobResult,
  type FetchProgress,
  type FetchQueueName,
} from '@app/jobs';

export type FetchEvent =
  | { type: 'progress'; progress: FetchProgress }
  | { type: 'completed'; result: FetchJobResult }
  | { type: 'failed'; failure: string };

/** Events of one job, buffered from the moment of `watch` so none is lost between calls. */
export class FetchEventInbox {
  private readonly buffered: FetchEvent[] = [];
  private wake: (() => void) | null = null;

  constructor(private readonly unsubscribe: () => void) {}

  push(event: FetchEvent): void {
    this.buffered.push(event);
    this.wake?.();
  }

  /** The next event, or null once `deadline` (epoch ms) passes or `signal` aborts. */
  async next(deadline: number, signal?: AbortSignal): Promise<FetchEvent | null> {
    while (this.buffered.length === 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal?.aborted) {
        return null;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, remaining);
        signal?.addEventListener('abort', done, { once: true });
        this.wake = done;
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
      });
      this.wake = null;
    }
    return this.buffered.shift() ?? null;
  }

  close(): void {
    this.unsubscribe();
  }
}

/**
 * One BullMQ QueueEvents stream per gateway process, fanned out to the requests waiting on each
 * job. Works across replicas: every gateway sees every job's progress, completion and failure.
 */
@Injectable()
export class FetchEventsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(FetchEventsService.name);
  private readonly inboxes = new Map<string, Set<FetchEventInbox>>();
  private readonly streams: QueueEvents[] = [];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    for (const name of FETCH_QUEUES) {
      this.streams.push(this.follow(name));
    }
  }

  /** Job ids never repeat across the lanes, so both streams feed one set of inboxes. */
  private follow(name: FetchQueueName): QueueEvents {
    const events = new QueueEvents(name, {
      connection: bullConnectionOptions(this.config.redis),
    });
    events.on('error', (error) => this.logger.warn(`queue events: ${error.message}`));
    events.on('progress', ({ jobId, data }) => {
      this.dispatch(jobId, { type: 'progress', progress: data as unknown as FetchProgress });
    });
    events.on('completed', ({ jobId, returnvalue }) => {
      this.dispatch(jobId, { type: 'completed', result: returnvalue as unknown as FetchJobResult });
    });
    events.on('failed', ({ jobId, failedReason }) => {
      this.dispatch(jobId, { type: 'failed', failure: failedReason });
    });
    return events;
  }

  watch(jobId: string): FetchEventInbox {
    let set = this.inboxes.get(jobId);
    if (!set) {
      set = new Set();
      this.inboxes.set(jobId, set);
    }
    const inbox = new FetchEventInbox(() => {
      set.delete(inbox);
      if (set.size === 0 && this.inboxes.get(jobId) === set) {
        this.inboxes.delete(jobId);
      }
    });
    set.add(inbox);
    return inbox;
  }

  private dispatch(jobId: string, event: FetchEvent): void {
    this.inboxes.get(jobId)?.forEach((inbox) => inbox.push(event));
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.streams.map((events) => events.close()));
  }
}
