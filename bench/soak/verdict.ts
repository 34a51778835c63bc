import type { MemoryAfterGc, ProcessSample } from './process-stats';

export interface ProcessSamples {
  /** gateway-0, fetcher-1, ... */
  name: string;
  start: ProcessSample;
  /** after the warm-up, with the load paused and the stack idle */
  warm: ProcessSample;
  /** at the end, with the load stopped and the stack idle */
  end: ProcessSample;
  /** right after each sample above, a full garbage collection */
  startGc: MemoryAfterGc;
  warmGc: MemoryAfterGc;
  endGc: MemoryAfterGc;
}

export interface VerdictInput {
  unexpected: number;
  processes: readonly ProcessSamples[];
  /** files left in the fetchers' spool directories once the stack is idle */
  spoolLeftovers: number;
  /** fetch jobs still waiting, active or delayed once the stack is idle */
  queuedJobs: number;
  /**
   * "Closing file descriptor N on garbage collection" warnings in the apps' logs: file handles
   * nobody closed, found by the collections the soak runs
   */
  fdsClosedByGc: number;
}

export interface Limits {
  /** RSS after a full garbage collection at the end may exceed the one after the warm-up by this */
  rssGrowth: number;
  /**
   * end descriptors outside the HTTP keep-alive pools (`KEEP_ALIVE_POOLS`) may exceed the
   * after-warm-up count by this many
   */
  fdSlack: number;
  /** end regular-file descriptors may exceed the after-warm-up count by this many */
  fileFdSlack: number;
  /** false: memory is printed, not judged (runs too short for the heap to settle) */
  judgeMemory: boolean;
}

export const DEFAULT_LIMITS: Limits = {
  rssGrowth: 0.2,
  // Sampled after 11 s without requests, when Postgres' pool has closed its idle clients; a
  // client still closing may be left over. A leak of one descriptor per request, fetch or flush
  // is tens to thousands over a run.
  fdSlack: 2,
  // An idle process holds its log and a few fixed files; a spool file or a stored blob still
  // open after every exchange ended is a leak.
  fileFdSlack: 0,
  judgeMemory: true,
};

/**
 * Sockets of HTTP keep-alive pools: they grow with the load's concurrency and close on their
 * own after the peer's idle timeout (Fastify's 72 s for the gateways' in-flight reads from the
 * fetchers, the soak's own clients), so the count at an idle moment is no leak: printed, not
 * judged.
 */
export const KEEP_ALIVE_POOLS: readonly string[] = [
  '→fetcher',
  '←fetcher',
  '←gateway',
  '→upstream',
];

/** Descriptors outside the keep-alive pools. */
export function unpooledFds(sample: ProcessSample): number {
  return KEEP_ALIVE_POOLS.reduce((n, peer) => n - (sample.peers[peer] ?? 0), sample.fds);
}

/** Why the run failed, one line per reason; empty when it passed. */
export function verdict(input: VerdictInput, limits: Limits = DEFAULT_LIMITS): string[] {
  const failures: string[] = [];
  if (input.unexpected > 0) {
    failures.push(`${input.unexpected} unexpected answers`);
  }
  for (const p of input.processes) {
    const rssLimit = Math.round(p.warmGc.rssKiB * (1 + limits.rssGrowth));
    if (limits.judgeMemory && !(p.endGc.rssKiB <= rssLimit)) {
      failures.push(
        `${p.name}: RSS ${mib(p.endGc.rssKiB)} after a full GC at the end, above ` +
          `${mib(rssLimit)} (after warm-up ${mib(p.warmGc.rssKiB)} + ${limits.rssGrowth * 100}%)`,
      );
    }
    const [warmFds, endFds] = [unpooledFds(p.warm), unpooledFds(p.end)];
    if (endFds > warmFds + limits.fdSlack) {
      failures.push(
        `${p.name}: ${endFds} open descriptors outside keep-alive pools at the end, ` +
          `after warm-up ${warmFds} (slack ${limits.fdSlack})`,
      );
    }
    if (p.end.files > p.warm.files + limits.fileFdSlack) {
      failures.push(
        `${p.name}: ${p.end.files} regular files open at the end, after warm-up ${p.warm.files} ` +
          `(slack ${limits.fileFdSlack})`,
      );
    }
  }
  if (input.spoolLeftovers > 0) {
    failures.push(`${input.spoolLeftovers} spool files left`);
  }
  if (input.fdsClosedByGc > 0) {
    failures.push(`${input.fdsClosedByGc} file handles were left open until garbage collection`);
  }
  if (input.queuedJobs > 0) {
    failures.push(`${input.queuedJobs} fetch jobs still queued or active`);
  }
  return failures;
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}
