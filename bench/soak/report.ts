import { OPERATIONS } from './expectations';
import type { MemoryAfterGc } from './process-stats';
import type { Tally } from './tally';
import { KEEP_ALIVE_POOLS, type Limits, type ProcessSamples, unpooledFds } from './verdict';

export interface ReportInput {
  title: string;
  tally: Tally;
  processes: readonly ProcessSamples[];
  spool: ReadonlyArray<{ name: string; dir: string; files: number }>;
  /** files anywhere else under the fetchers' TMPDIR */
  otherTempFiles: number;
  queuedJobs: number;
  fdsClosedByGc: number;
  loadSeconds: number;
  limits: Limits;
  failures: readonly string[];
  /** what the stack's own /metrics counted */
  stackCounters: ReadonlyArray<[string, number]>;
}

/** The soak's result as plain-text tables. */
export function formatReport(input: ReportInput): string {
  const { tally } = input;
  const sections: string[] = [input.title];

  const operations = tally
    .operations()
    .sort(([a], [b]) => OPERATIONS.indexOf(a) - OPERATIONS.indexOf(b));
  const statuses = [...new Set(operations.flatMap(([, t]) => [...t.byStatus.keys()]))].sort(
    (a, b) => a - b,
  );
  const total = new Map<number, number>();
  const rows = operations.map(([op, t]) => {
    t.byStatus.forEach((n, status) => total.set(status, (total.get(status) ?? 0) + n));
    const sorted = [...t.durationsMs].sort((a, b) => a - b);
    return [
      op,
      String(sorted.length),
      ...statuses.map((s) => (t.byStatus.get(s) ? String(t.byStatus.get(s)) : '')),
      String(t.problems.size === 0 ? 0 : [...t.problems.values()].reduce((a, b) => a + b, 0)),
      String(percentile(sorted, 0.5)),
      String(percentile(sorted, 0.99)),
      shares(t.bySource),
    ];
  });
  rows.push([
    'total',
    String(tally.requests),
    ...statuses.map((s) => String(total.get(s) ?? '')),
    String(tally.unexpected),
    '',
    '',
    '',
  ]);
  sections.push(
    'requests by operation and status (status 0: no answer)\n' +
      table(
        [
          'operation',
          'requests',
          ...statuses.map(String),
          'unexpected',
          'p50 ms',
          'p99 ms',
          'X-Artifact-Source',
        ],
        rows,
      ),
  );

  if (tally.unexpected === 0) {
    sections.push('unexpected answers: none');
  } else {
    const problemRows = operations.flatMap(([op, t]) =>
      [...t.problems.entries()].map(([problem, n]) => [op, problem, String(n)]),
    );
    const examples = tally.examples.map(
      (e) =>
        `  ${(e.at / 1000).toFixed(1)} s ${e.op}: ${e.problem}: ${e.request} → ${e.status}` +
        (e.text ? ` ${JSON.stringify(e.text)}` : ''),
    );
    sections.push(
      `unexpected answers: ${tally.unexpected}\n` +
        table(['operation', 'problem', 'count'], problemRows) +
        '\nexamples:\n' +
        examples.join('\n'),
    );
  }

  const memoryRows = input.processes.map((p) => [
    p.name,
    `${mib(p.start.rssKiB)} / ${mib(p.warm.rssKiB)} / ${mib(p.end.rssKiB)}`,
    `${mib(p.startGc.rssKiB)} / ${mib(p.warmGc.rssKiB)} / ${mib(p.endGc.rssKiB)}`,
    signedPercent(p.endGc.rssKiB / p.warmGc.rssKiB - 1),
    trio(p, (m) => m.heapKiB),
    trio(p, (m) => m.externalKiB),
  ]);
  sections.push(
    'memory MiB, start / after warm-up / end (idle; then a full garbage collection in each app)\n' +
      table(
        [
          'process',
          'RSS idle',
          'RSS after GC',
          'end vs warm',
          'V8 heap after GC',
          'external after GC',
        ],
        memoryRows,
      ) +
      `\nlimit: RSS after GC at the end at most ${input.limits.rssGrowth * 100}% above after ` +
      'the warm-up' +
      (input.limits.judgeMemory ? '' : ' (printed only, not judged for this run)'),
  );

  const kindsSeen = [
    ...new Set(
      input.processes.flatMap((p) => [...Object.keys(p.warm.peers), ...Object.keys(p.end.peers)]),
    ),
  ].sort();
  const fdRows = input.processes.map((p) => [
    p.name,
    `${p.start.fds} / ${p.warm.fds} / ${p.end.fds}`,
    change(unpooledFds(p.warm), unpooledFds(p.end)),
    signed(unpooledFds(p.end) - unpooledFds(p.warm)),
    ...(['files', 'pipes', 'other'] as const).map((k) => change(p.warm[k], p.end[k])),
    ...kindsSeen.map((k) => change(p.warm.peers[k] ?? 0, p.end.peers[k] ?? 0)),
  ]);
  sections.push(
    'open descriptors, idle (load paused, queue drained, 11 s without requests): ' +
      'start / warm / end, and by kind warm → end\n' +
      table(
        [
          'process',
          'all fds',
          'outside pools',
          'end - warm',
          'files',
          'pipes',
          'other',
          ...kindsSeen,
        ],
        fdRows,
      ) +
      `\nsockets: →X connected to X's port, ←X accepted on X's own port (a gateway's clients, ` +
      `a fetcher's in-flight readers); keep-alive pools (${KEEP_ALIVE_POOLS.join(' ')}) ` +
      `are printed, not judged\nlimits: outside pools, end at most warm + ${input.limits.fdSlack}; ` +
      `regular files at most warm + ${input.limits.fileFdSlack}`,
  );

  sections.push(
    'left behind once idle\n' +
      table(
        ['what', 'count'],
        [
          ...input.spool.map((s) => [`spool files ${s.name} (${s.dir})`, String(s.files)]),
          ['other files under the fetchers TMPDIR', String(input.otherTempFiles)],
          ['fetch jobs waiting, active or delayed', String(input.queuedJobs)],
          ['file handles closed by the garbage collector (apps logs)', String(input.fdsClosedByGc)],
        ],
      ),
  );

  sections.push(
    "the stack's own counters (/metrics)\n" +
      table(
        ['counter', 'value'],
        input.stackCounters.map(([label, value]) => [label, String(value)]),
      ),
  );

  const seconds = input.loadSeconds;
  sections.push(
    `throughput: ${(tally.requests / seconds).toFixed(1)} requests/s, ` +
      `${(tally.bytes / 1024 / 1024 / seconds).toFixed(1)} MiB/s of bodies received, ` +
      `over ${seconds.toFixed(0)} s of load`,
  );
  sections.push(
    input.failures.length === 0
      ? 'verdict: PASS'
      : `verdict: FAIL\n${input.failures.map((f) => `  - ${f}`).join('\n')}`,
  );
  return sections.join('\n\n') + '\n';
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted.length === 0
    ? 0
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function shares(counts: ReadonlyMap<string, number>): string {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return [...counts.entries()]
    .sort(([, a], [, b]) => b - a)
    .map(([source, n]) => `${source} ${((100 * n) / total).toFixed(0)}%`)
    .join(', ');
}

function trio(p: ProcessSamples, pick: (m: MemoryAfterGc) => number): string {
  return `${mib(pick(p.startGc))} / ${mib(pick(p.warmGc))} / ${mib(pick(p.endGc))}`;
}

function change(warm: number, end: number): string {
  return warm === end ? String(end) : `${warm}→${end}`;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

function signedPercent(fraction: number): string {
  return `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`;
}
