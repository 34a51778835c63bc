import { readRssKiB } from './process-stats';

export interface RssSummary {
  minKiB: number;
  medianKiB: number;
  maxKiB: number;
  samples: number;
}

/**
 * VmRSS of some processes every few seconds while the load runs. One idle sample catches a
 * garbage-collected heap at a random point of its sawtooth (measured: a gateway read 194 MiB
 * after the warm-up and 147 MiB at the end, the other 141 and 225); a window shows the range.
 */
export class RssSeries {
  private readonly times: number[] = [];
  private readonly values: number[][];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pids: readonly number[],
    private readonly everyMs = 2_000,
  ) {
    this.values = pids.map(() => []);
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(), this.everyMs);
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Per process, over the samples taken in [from, to] (epoch ms). */
  window(from: number, to: number): RssSummary[] {
    return this.values.map((series) => {
      const inside = series
        .filter((_, i) => this.times[i] >= from && this.times[i] <= to)
        .sort((a, b) => a - b);
      return {
        minKiB: inside[0] ?? NaN,
        medianKiB: inside[Math.floor(inside.length / 2)] ?? NaN,
        maxKiB: inside.at(-1) ?? NaN,
        samples: inside.length,
      };
    });
  }

  /** seconds since `origin`, then one column of MiB per process */
  csv(names: readonly string[], origin: number): string {
    const header = ['seconds', ...names].join(',');
    const rows = this.times.map((t, i) =>
      [((t - origin) / 1000).toFixed(1), ...this.values.map((s) => (s[i] / 1024).toFixed(1))].join(
        ',',
      ),
    );
    return [header, ...rows].join('\n') + '\n';
  }

  private sample(): void {
    this.times.push(Date.now());
    this.pids.forEach((pid, i) => this.values[i].push(rssKiB(pid)));
  }
}

function rssKiB(pid: number): number {
  try {
    return readRssKiB(pid);
  } catch {
    // the process is gone: the run fails on its own account
    return NaN;
  }
}
