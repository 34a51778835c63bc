import { Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { REDIS_COMMAND_TIMEOUT_MS } from '@app/cache';
import { withDeadline } from '@app/common';

const REMEMBER_ALIVE_MS = 2000;
const REMEMBER_NONE_MS = 1000;

/**
 * Whether any fetcher is connected to the queue (BullMQ names its worker connections, so CLIENT
 * LIST tells). With none, a miss answers 503 at once instead of waiting FETCH_WAIT_TIMEOUT for a
 * job nobody will take (docs/CACHING.md). Remembered briefly: it is one more Redis round trip per miss.
 */
@Injectable()
export class FetcherPresence {
  private readonly logger = new Logger(FetcherPresence.name);
  private readonly known = new Map<string, { alive: boolean; until: number }>();

  /** Whether a fetcher works on `queue` (a lane: every fetcher runs workers for both). */
  async anyAlive(queue: Queue): Promise<boolean> {
    const now = Date.now();
    const known = this.known.get(queue.name);
    if (known && known.until > now) {
      return known.alive;
    }
    let alive = true;
    try {
      alive = await withDeadline(
        this.countWorkers(queue).then((count) => count > 0),
        2 * REDIS_COMMAND_TIMEOUT_MS,
        () => new Error('Redis did not answer'),
      );
    } catch (error) {
      // Some managed Redis services refuse CLIENT LIST: assume fetchers are there. (A Redis that
      // does not answer at all fails the caller's next queue call instead.)
      this.logger.debug(`cannot count fetchers: ${(error as Error).message}`);
    }
    this.known.set(queue.name, {
      alive,
      until: now + (alive ? REMEMBER_ALIVE_MS : REMEMBER_NONE_MS),
    });
    return alive;
  }

  private async countWorkers(queue: Queue): Promise<number> {
    // CLIENT LIST covers the whole server: count only the workers on our database.
    const db = String(
      ((await queue.client) as unknown as { options: { db?: number } }).options.db ?? 0,
    );
    const workers = await queue.getWorkers();
    return workers.filter((worker) => (worker.db ?? '0') === db).length;
  }
}
