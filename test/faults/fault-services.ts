/**
 * What the fault specs share besides the answer bookkeeping (fault-book.ts): a private directory
 * under the run's temp dir, SIGSTOP/SIGCONT that can never be left stopped, SIGKILL of a whole
 * process group (a Postgres cluster is a postmaster and its backends), the fetch queue to wait for
 * a job's final state, and the queue settings the contract fixes.
 */
import { Queue } from 'bullmq';
import { FETCH_QUEUES, fetchJobId } from '@app/jobs';
import { isAlive } from '../../tools/processes';
import { scratchDir } from '../helpers/isolated-services';
import { waitFor } from '../../tools/wait-for';

/** Attempts of a transient failure, from the contract: 1 + 2 retries (backoff 1 s, then 2 s). */
export const FETCH_ATTEMPTS = 3;

/** A new directory of its own under the run's temp dir. */
export function faultDir(name: string): Promise<string> {
  return scratchDir(`faults/${name}`);
}

/**
 * A signal to the process group `pid` leads (tools/processes.ts starts every process in a group of
 * its own: a postmaster's backends, a Node app's helpers are in it); one gone is not an error.
 */
function signalGroup(pid: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw error;
    }
    return false;
  }
}

/**
 * SIGSTOP as a partition: connections stay open and nothing answers. Every stopped group is kept
 * until it is continued, and `release` (afterAll, finally) continues whatever is left, so no
 * failing assertion can leave a server stopped behind it.
 */
export class Freezer {
  private readonly stopped = new Set<number>();

  stop(pids: number[]): void {
    for (const pid of pids) {
      this.stopped.add(pid);
      signalGroup(pid, 'SIGSTOP');
    }
  }

  /** Continues `pids`, or everything stopped so far. */
  cont(pids: number[] = [...this.stopped]): void {
    for (const pid of pids) {
      signalGroup(pid, 'SIGCONT');
      this.stopped.delete(pid);
    }
  }

  release(): void {
    this.cont();
  }
}

/** SIGKILL to the groups of `pids` (a crash), then waits until not one of their processes is left. */
export async function killAll(pids: number[]): Promise<void> {
  pids.forEach((pid) => signalGroup(pid, 'SIGKILL'));
  await waitFor(() => pids.every((pid) => !isAlive(pid) && !signalGroup(pid, 0)), {
    description: `process groups ${pids.join(', ')} to be gone after SIGKILL`,
    timeoutMs: 10_000,
  });
}

/** What a test reads of a fetch job. */
export interface JobState {
  /** BullMQ's: waiting, active, delayed, failed, ... ('unknown' once removed) */
  state: string;
  attemptsMade: number;
  failedReason: string | null;
  progress: unknown;
}

/**
 * The fetch queue, read directly with BullMQ by the job's deterministic id: one atomic state
 * lookup, so a job moving between lists (delayed → waiting → active) cannot look finished, as it
 * can to a scan of the admin API's lists one state after another.
 */
export class QueueProbe {
  private queues: Queue[] | null = null;

  constructor(private readonly redisUrl: () => string) {}

  /**
   * The job of `remote`/`path` in whichever lane holds it, or null when there is none (completed
   * jobs are removed).
   */
  async job(remote: string, path: string): Promise<JobState | null> {
    this.queues ??= FETCH_QUEUES.map(
      (name) => new Queue(name, { connection: { url: this.redisUrl() } }),
    );
    let job = null;
    for (const queue of this.queues) {
      job ??= await queue.getJob(fetchJobId(remote, path));
    }
    if (!job) {
      return null;
    }
    return {
      state: await job.getState(),
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason || null,
      progress: job.progress,
    };
  }

  /** Waits until the job is in `state`; returns it. */
  async until(remote: string, path: string, state: string): Promise<JobState> {
    return waitFor(
      async () => {
        const job = await this.job(remote, path);
        return job?.state === state ? job : null;
      },
      { description: `the fetch job of ${remote}/${path} to be ${state}`, intervalMs: 100 },
    );
  }

  /**
   * Waits until the job of `remote`/`path` is final: the failed job (with every attempt it made)
   * or null when it finished (completed jobs are removed at once) or never existed. Exact
   * upstream counts are only read after this.
   */
  async settle(remote: string, path: string, timeoutMs = 60_000): Promise<JobState | null> {
    const found = await waitFor(
      async () => {
        const job = await this.job(remote, path);
        if (job?.state === 'failed') {
          // getJob read the job's fields before getState saw it fail: read them again, final now.
          return { job: await this.job(remote, path) };
        }
        return job === null ? { job } : null;
      },
      { description: `the fetch job of ${remote}/${path} to finish`, timeoutMs, intervalMs: 200 },
    );
    return found.job;
  }

  async close(): Promise<void> {
    await Promise.all((this.queues ?? []).map((queue) => queue.close()));
    this.queues = null;
  }
}
