import type { Job, Queue } from 'bullmq';
import type { FetchJobPayload, FetchJobResult } from './fetch-job';

type FetchJob = Job<FetchJobPayload, FetchJobResult>;

export const MAX_INSPECTED_JOBS = 1000;

/**
 * Active jobs split by whether a fetcher still holds their lock. An active job without a lock
 * is stalled: its fetcher died, and it waits for a fetcher's stalled-job check (or a retry).
 */
export async function splitActiveJobs(
  queue: Queue<FetchJobPayload, FetchJobResult>,
): Promise<{ running: FetchJob[]; stalled: FetchJob[] }> {
  const active = (await queue.getJobs(['active'], 0, MAX_INSPECTED_JOBS - 1, true)).filter(
    Boolean,
  ) as FetchJob[];
  // BullMQ's client type hides plain commands; it is an ioredis connection.
  const client = (await queue.client) as unknown as { exists(key: string): Promise<number> };
  const locked = await Promise.all(
    active.map(async (job) => (await client.exists(queue.toKey(`${job.id}:lock`))) === 1),
  );
  return {
    running: active.filter((_, i) => locked[i]),
    stalled: active.filter((_, i) => !locked[i]),
  };
}
