import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { FETCH_QUEUE } from '@app/jobs';

const REMEMBER_ALIVE_MS = 2000;
const REMEMBER_NONE_MS = 1000;

/**
 * Whether any fetcher is connected to the queue (BullMQ names its worker connections, so CLIENT
 * LIST tells). With none, a miss answers 503 at once instead of waiting FETCH_WAIT_TIMEOUT for a
 * job nobody will take (SPEC §5). Remembered briefly: it is one more Redis round trip per miss.
 */
@Injectable()
export class FetcherPresence {
  private readonly logger = new Logger(FetcherPresence.name);
  private known: { alive: boolean; until: number } | null = null;

  constructor(@InjectQueue(FETCH_QUEUE) private readonly queue: Queue) {}

  async anyAlive(): Promise<boolean> {
    const now = Date.now();
    if (this.known && this.known.until > now) {
      return this.known.alive;
    }
    let alive = true;
    try {
      // CLIENT LIST covers the whole server: count only the workers on our database.
      const db = String(
        ((await this.queue.client) as unknown as { options: { db?: number } }).options.db ?? 0,
      );
      const workers = await this.queue.getWorkers();
      alive = workers.some((worker) => (worker.db ?? '0') === db);
    } catch (error) {
      // Some managed Redis services refuse CLIENT LIST: assume fetchers are there.
      this.logger.debug(`cannot count fetchers: ${(error as Error).message}`);
    }
    this.known = { alive, until: now + (alive ? REMEMBER_ALIVE_MS : REMEMBER_NONE_MS) };
    return alive;
  }
}
