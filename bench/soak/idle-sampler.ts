import type { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppProcess } from '../../test/helpers/stack';
import { waitFor } from '../../tools/wait-for';
import {
  type MemoryAfterGc,
  type ProcessSample,
  countSpoolFiles,
  sampleProcess,
  tcpSockets,
} from './process-stats';

/** before a sample: Postgres' pool closes idle clients after 10 s, the upstream after 5 s */
const IDLE_BEFORE_SAMPLE_MS = 11_000;
/** then the descriptor counts must stand still this long (sockets still closing), or the deadline */
const SETTLE_STABLE_MS = 2_000;
const SETTLE_DEADLINE_MS = 10_000;
/** for the fetch queue to drain and the spools to empty once the load is paused */
const DRAIN_DEADLINE_MS = 15_000;
/** for every app to answer a garbage-collection request */
const GC_DEADLINE_MS = 15_000;

/** The preload that lets the soak ask the apps for a full garbage collection. */
export const GC_PROBE = join(__dirname, 'gc-probe.js');

export interface IdleSample {
  processes: ProcessSample[];
  afterGc: MemoryAfterGc[];
  /** fetch jobs waiting, active or delayed, and spool files, when the wait for them ended */
  queuedJobs: number;
  spoolFiles: number;
}

/**
 * Samples the apps of a stack in one idle state every time, so that samples compare: fetch
 * queue drained, spools empty, `minIdleMs` without requests, descriptor counts still; then a
 * full garbage collection in each app (after the descriptors are counted: a collection closes
 * FileHandles nobody closed, which would hide their leak).
 */
export class IdleSampler {
  constructor(
    private readonly apps: readonly AppProcess[],
    /** port → name, for naming sockets by peer */
    private readonly ports: ReadonlyMap<number, string>,
    private readonly queue: Queue,
    private readonly spoolDirs: readonly string[],
    /** SOAK_GC_PROBE_DIR of the apps */
    private readonly probeDir: string,
  ) {
    mkdirSync(probeDir, { recursive: true });
  }

  async sample(minIdleMs = IDLE_BEFORE_SAMPLE_MS): Promise<IdleSample> {
    const { jobs, spool } = await this.drained();
    const processes = await this.settled(minIdleMs);
    const afterGc = await this.collectGarbage();
    return { processes, afterGc, queuedJobs: jobs, spoolFiles: spool };
  }

  private async settled(minIdleMs: number): Promise<ProcessSample[]> {
    const read = () => {
      const tcp = tcpSockets();
      return this.apps.map((app) => sampleProcess(app.pid!, this.ports, tcp));
    };
    const began = Date.now();
    const deadline = began + minIdleMs + SETTLE_DEADLINE_MS;
    let last = read();
    let stableSince = Date.now();
    while (
      (Date.now() - began < minIdleMs || Date.now() - stableSince < SETTLE_STABLE_MS) &&
      Date.now() < deadline
    ) {
      await sleep(250);
      const next = read();
      if (next.some((s, i) => s.fds !== last[i].fds)) {
        stableSince = Date.now();
      }
      last = next;
    }
    return last;
  }

  /**
   * Waits until no fetch job is waiting or running and every spool directory is empty (a fetch
   * removes its spool file just after its last client got the last byte); returns what was
   * left at the deadline.
   */
  private async drained(): Promise<{ jobs: number; spool: number }> {
    const look = async () => {
      const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
      const spool = this.spoolDirs.reduce((sum, d) => sum + countSpoolFiles(d), 0);
      return { jobs, spool };
    };
    try {
      return await waitFor(
        async () => {
          const state = await look();
          return state.jobs === 0 && state.spool === 0 ? state : null;
        },
        {
          description: 'the fetch queue to drain and the spools to empty',
          timeoutMs: DRAIN_DEADLINE_MS,
          intervalMs: 200,
        },
      );
    } catch {
      return look();
    }
  }

  private async collectGarbage(): Promise<MemoryAfterGc[]> {
    const id = randomBytes(4).toString('hex');
    for (const app of this.apps) {
      writeFileSync(join(this.probeDir, `${app.pid}.request`), id);
    }
    return Promise.all(
      this.apps.map((app) =>
        waitFor(
          () => {
            const file = join(this.probeDir, `${app.pid}.json`);
            if (!existsSync(file)) {
              return null;
            }
            const usage = JSON.parse(readFileSync(file, 'utf8')) as NodeJS.MemoryUsage & {
              id: string;
            };
            return usage.id === id
              ? {
                  rssKiB: Math.round(usage.rss / 1024),
                  heapKiB: Math.round(usage.heapUsed / 1024),
                  externalKiB: Math.round(usage.external / 1024),
                }
              : null;
          },
          {
            description: `${app.kind} ${app.pid} to report after a full garbage collection`,
            timeoutMs: GC_DEADLINE_MS,
            intervalMs: 100,
          },
        ),
      ),
    );
  }
}
