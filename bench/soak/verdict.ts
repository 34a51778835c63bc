import type { ProcessSample } from './process-stats';

export interface ProcessSamples {
  /** gateway-0, fetcher-1, ... */
  name: string;
  start: ProcessSample;
  /** after the warm-up, with the load paused and the stack idle */
  warm: ProcessSample;
  /** at the end, with the load stopped and the stack idle */
  end: ProcessSample;
}

export interface VerdictInput {
  unexpected: number;
  processes: readonly ProcessSamples[];
  /** files left in the fetchers' spool directories once the stack is idle */
  spoolLeftovers: number;
  /** fetch jobs still waiting, active or delayed once the stack is idle */
  queuedJobs: number;
}

export interface Limits {
  /** end RSS may exceed the after-warm-up RSS by this fraction */
  rssGrowth: number;
  /** end descriptors may exceed the after-warm-up count by this many */
  fdSlack: number;
  /** end regular-file descriptors may exceed the after-warm-up count by this many */
  fileFdSlack: number;
  /** false: memory is printed, not judged (runs too short for the heap to settle) */
  judgeMemory: boolean;
}

export const DEFAULT_LIMITS: Limits = {
  rssGrowth: 0.2,
  // Idle connection pools are not a fixed size: Postgres' pool (up to 10 per process) closes
  // idle clients after 10 s, keep-alive agents keep what the last burst opened. A leak of one
  // descriptor per request, fetch or flush is hundreds over a run.
  fdSlack: 12,
  // An idle process holds its log and a few fixed files; a spool file or a stored blob still
  // open after every exchange ended is a leak.
  fileFdSlack: 0,
  judgeMemory: true,
};

/** Why the run failed, one line per reason; empty when it passed. */
export function verdict(input: VerdictInput, limits: Limits = DEFAULT_LIMITS): string[] {
  const failures: string[] = [];
  if (input.unexpected > 0) {
    failures.push(`${input.unexpected} unexpected answers`);
  }
  for (const p of input.processes) {
    const rssLimit = Math.round(p.warm.rssKiB * (1 + limits.rssGrowth));
    if (limits.judgeMemory && p.end.rssKiB > rssLimit) {
      failures.push(
        `${p.name}: RSS ${mib(p.end.rssKiB)} at the end, above ${mib(rssLimit)} ` +
          `(after warm-up ${mib(p.warm.rssKiB)} + ${limits.rssGrowth * 100}%)`,
      );
    }
    if (p.end.fds > p.warm.fds + limits.fdSlack) {
      failures.push(
        `${p.name}: ${p.end.fds} open descriptors at the end, after warm-up ${p.warm.fds} ` +
          `(slack ${limits.fdSlack})`,
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
  if (input.queuedJobs > 0) {
    failures.push(`${input.queuedJobs} fetch jobs still queued or active`);
  }
  return failures;
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}
