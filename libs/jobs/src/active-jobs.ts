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

export const QUEUE_DEPTH_STATES = [
  'waiting',
  'active',
  'stalled',
  'delayed',
  'failed',
  'completed',
] as const;
export type QueueDepth = Record<(typeof QUEUE_DEPTH_STATES)[number], number>;

/**
 * A lane's jobs by state. `waiting` includes the prioritized ones (warm-up fetches wait behind
 * client misses); `active` counts the jobs really running, `stalled` the ones whose fetcher died.
 */
export async function queueDepth(
  queue: Queue<FetchJobPayload, FetchJobResult>,
): Promise<QueueDepth> {
  const counts = await queue.getJobCounts(
    'waiting',
    'prioritized',
    'active',
    'delayed',
    'failed',
    'completed',
  );
  const stalled = (await splitActiveJobs(queue)).stalled.length;
  return {
    waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
    active: (counts.active ?? 0) - stalled,
    stalled,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
    completed: counts.completed ?? 0,
  };
}
