import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FETCH_QUEUE } from '@app/jobs';
import { METRIC } from '@app/metrics/metric-names';
import { requireEnv } from '../../test/helpers/isolated-services';
import { metricValue } from '../../test/helpers/prometheus-text';
import { Stack, type AppProcess } from '../../test/helpers/stack';
import { UpstreamServer } from '../../test/helpers/upstream-server';
import { waitFor } from '../../test/helpers/wait-for';
import { Corpus, HOSTED_REMOTE, INDEX_DIR, PROXY_REMOTE } from './corpus';
import { type ProcessSample, countFiles, sampleProcess, tcpSockets } from './process-stats';
import { formatReport } from './report';
import { RssSeries } from './rss-series';
import { UploadPool } from './upload-pool';
import { DEFAULT_LIMITS, type Limits, type ProcessSamples, verdict } from './verdict';
import { Workload } from './workload';

export interface SoakOptions {
  /** seconds of load, pauses for sampling not included */
  seconds: number;
  /** concurrent client loops, each with its own keep-alive connection */
  connections: number;
  /**
   * load before the reference sample (default 40% of `seconds`, at least 5): at 64 connections
   * the apps' RSS climbed for about 4 minutes and then stayed within a few %
   */
  warmupSeconds?: number;
  /** one flush of the proxy remote this often (default 15) */
  flushEverySeconds?: number;
  /** one index changes upstream this often (default 1500) */
  indexChangeEveryMs?: number;
  /** one exchange, headers and body (default 60 000) */
  requestTimeoutMs?: number;
  limits?: Partial<Limits>;
  /** progress lines (default: none) */
  log?: (line: string) => void;
  /** aborts the run: load stops at once, everything started is stopped */
  signal?: AbortSignal;
}

export interface SoakResult {
  failures: string[];
  unexpected: number;
  report: string;
  /** the stack's directory: its processes' logs and storage */
  stackDir: string;
}

const MUTABLE_TTL_SECONDS = 1;
/**
 * How far behind the upstream a fresh copy may be, beyond the TTL: the fetch that read it ran
 * before it was published, and on a loaded machine a job can take seconds.
 */
const REVALIDATION_SLACK_MS = 5_000;
const ADMIN_TOKEN = `soak-${randomBytes(8).toString('hex')}`;
/** before an idle sample: Postgres' pool closes idle clients after 10 s, the upstream after 5 s */
const IDLE_BEFORE_SAMPLE_MS = 11_000;
/** then the descriptor counts must stand still this long (sockets still closing), or the deadline */
const SETTLE_STABLE_MS = 2_000;
const SETTLE_DEADLINE_MS = 10_000;
/** for the fetch queue to drain and the spools to empty once the load is paused */
const DRAIN_DEADLINE_MS = 15_000;
/**
 * RSS under load is summarised over this long before each idle sample (or the warm-up, if
 * shorter): longer than one swing of a gateway's garbage-collection sawtooth (about 2 minutes
 * at 64 connections, between 145 and 238 MiB)
 */
const RSS_WINDOW_MS = 150_000;

/**
 * The soak: a loopback upstream with known bodies, a stack of 2 gateways and 2 fetchers (fs
 * storage, a generic remote with mutable indexes, a hosted remote), `connections` client loops
 * of mixed operations for `seconds`, and the processes' RSS and descriptors before, after the
 * warm-up and at the end. Needs TEST_TMP_DIR, TEST_REDIS_URL and TEST_DATABASE_URL (the e2e
 * global setup, or bench/soak.ts, provides them) and the built apps (`npm run build`).
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const warmupSeconds = options.warmupSeconds ?? Math.max(5, Math.round(options.seconds * 0.4));
  const signal = options.signal ?? new AbortController().signal;
  const tmpDir = join(
    requireEnv('TEST_TMP_DIR'),
    `soak-tmp-${process.pid}-${randomBytes(3).toString('hex')}`,
  );
  mkdirSync(tmpDir, { recursive: true });

  const upstream = new UpstreamServer();
  const corpus = new Corpus(upstream, { poolFiles: 24, indexFiles: 8, repeatedMissing: 16 });
  let stack: Stack | null = null;
  let workload: Workload | null = null;
  const timers: NodeJS.Timeout[] = [];
  let killOnExit: (() => void) | null = null;
  try {
    await upstream.start();
    corpus.publish();
    stack = await Stack.start({
      remotes: {
        [PROXY_REMOTE]: {
          package: 'generic',
          base_url: `${upstream.url}/${PROXY_REMOTE}`,
          mutable_patterns: [`${INDEX_DIR}/[^/]+$`],
          mutable_ttl: MUTABLE_TTL_SECONDS,
          check_mutable_updates: true,
        },
        [HOSTED_REMOTE]: { package: 'local' },
      },
      gateways: 2,
      fetchers: 2,
      storage: 'fs',
      // A TMPDIR of the soak's own: the spool directories counted are surely these fetchers'.
      env: { ADMIN_TOKEN, TMPDIR: tmpDir },
    });
    const apps = [...stack.gateways, ...stack.fetchers];
    // If this process dies without its finally blocks (process.exit, a fatal error), the
    // detached apps would outlive it.
    killOnExit = () => apps.forEach((app) => app.pid && killQuietly(app.pid));
    process.on('exit', killOnExit);
    const names = [
      ...stack.gateways.map((_, i) => `gateway-${i}`),
      ...stack.fetchers.map((_, i) => `fetcher-${i}`),
    ];
    const uid = process.getuid?.() ?? 'user';
    const spoolDirs = stack.fetchers.map((f) =>
      join(tmpDir, `artifactcache-${uid}`, `spool-${f.port}`),
    );
    const ports = new Map<number, string>([
      [Number(new URL(stack.redisUrl).port), 'redis'],
      [Number(new URL(stack.databaseUrl).port), 'postgres'],
      [upstream.port, 'upstream'],
      ...stack.gateways.map((g): [number, string] => [g.port, 'gateway']),
      ...stack.fetchers.map((f): [number, string] => [f.port, 'fetcher']),
    ]);
    const queue = new Queue(FETCH_QUEUE, { connection: { url: stack.redisUrl } });
    try {
      log(
        `stack up: gateways ${stack.gateways.map((g) => g.url).join(', ')}; logs in ${stack.dir}`,
      );
      const start = await settledSamples(apps, ports, 0);

      workload = new Workload({
        gateways: stack.gateways.map((g) => g.url),
        connections: options.connections,
        adminToken: ADMIN_TOKEN,
        corpus,
        uploads: new UploadPool(400),
        requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
        indexLagMs: MUTABLE_TTL_SECONDS * 1000 + REVALIDATION_SLACK_MS,
        flushEveryMs: (options.flushEverySeconds ?? 15) * 1000,
      });
      timers.push(setInterval(() => corpus.changeIndex(), options.indexChangeEveryMs ?? 1500));
      // The upstream keeps a log of every request; the soak does not need it.
      timers.push(setInterval(() => upstream.requests.splice(0), 10_000));
      const load = new LoadClock();
      const rss = new RssSeries(apps.map((app) => app.pid!));
      const began = Date.now();
      rss.start();
      workload.start();
      log(`load: ${options.connections} connections, warm-up ${warmupSeconds} s`);
      await runFor(warmupSeconds, signal, () => progress(log, workload!, load));

      load.pause();
      const warmAt = Date.now();
      await workload.pause();
      const warmQueue = await drained(queue, spoolDirs);
      const warm = await settledSamples(apps, ports, IDLE_BEFORE_SAMPLE_MS);
      log(
        `after warm-up: ${describe(names, warm)}; queue ${warmQueue.jobs}, spool ${warmQueue.spool}`,
      );
      workload.resume();
      load.resume();

      await runFor(options.seconds - warmupSeconds, signal, () => progress(log, workload!, load));
      // Sampled paused, like after the warm-up: the clients' keep-alive connections still open.
      load.pause();
      const endAt = Date.now();
      rss.stop();
      await workload.pause();
      timers.forEach(clearInterval);
      const idle = await drained(queue, spoolDirs);
      const end = await settledSamples(apps, ports, IDLE_BEFORE_SAMPLE_MS);
      log(`end: ${describe(names, end)}; queue ${idle.jobs}, spool ${idle.spool}`);
      await workload.stop();

      const windowMs = Math.min(RSS_WINDOW_MS, warmupSeconds * 1000);
      const warmWindow = rss.window(warmAt - windowMs, warmAt);
      const endWindow = rss.window(endAt - windowMs, endAt);
      writeFileSync(join(stack.dir, 'rss.csv'), rss.csv(names, began));
      const processes: ProcessSamples[] = names.map((name, i) => ({
        name: `${name} (pid ${apps[i].pid})`,
        start: start[i],
        warm: warm[i],
        end: end[i],
        warmWindow: warmWindow[i],
        endWindow: endWindow[i],
      }));
      const spool = stack.fetchers.map((_, i) => ({
        name: `fetcher-${i}`,
        dir: spoolDirs[i],
        files: countFiles(spoolDirs[i]),
      }));
      const spoolLeftovers = spool.reduce((sum, s) => sum + s.files, 0);
      const failures = verdict(
        {
          unexpected: workload.tally.unexpected,
          processes,
          spoolLeftovers,
          queuedJobs: idle.jobs,
        },
        limits,
      );
      const report = formatReport({
        title:
          `soak: ${options.seconds} s of load (warm-up ${warmupSeconds} s), ` +
          `${options.connections} connections over ${stack.gateways.length} gateways, ` +
          `${stack.fetchers.length} fetchers, fs storage`,
        tally: workload.tally,
        processes,
        spool,
        otherTempFiles: countFiles(tmpDir) - spoolLeftovers,
        queuedJobs: idle.jobs,
        loadSeconds: load.seconds,
        limits,
        rssWindowSeconds: windowMs / 1000,
        failures,
        stackCounters: await stackCounters(stack),
      });
      return {
        failures,
        unexpected: workload.tally.unexpected,
        report,
        stackDir: stack.dir,
      };
    } finally {
      await queue.close();
    }
  } finally {
    timers.forEach(clearInterval);
    await workload?.stop({ cut: true });
    await stack?.stop();
    if (killOnExit) {
      process.removeListener('exit', killOnExit);
    }
    await upstream.stop();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Seconds of load, not counting the pauses for sampling. */
class LoadClock {
  private total = 0;
  private since: number | null = Date.now();

  pause(): void {
    if (this.since !== null) {
      this.total += Date.now() - this.since;
      this.since = null;
    }
  }

  resume(): void {
    this.since ??= Date.now();
  }

  get seconds(): number {
    return (this.total + (this.since === null ? 0 : Date.now() - this.since)) / 1000;
  }
}

/** Waits `seconds`, calling `tick` every 10 s; throws when `signal` aborts. */
async function runFor(seconds: number, signal: AbortSignal, tick: () => void): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    await sleep(Math.min(10_000, until - Date.now()), undefined, { signal });
    tick();
  }
}

function progress(log: (line: string) => void, workload: Workload, load: LoadClock): void {
  const { tally } = workload;
  log(`${load.seconds.toFixed(0)} s: ${tally.requests} requests, ${tally.unexpected} unexpected`);
}

/**
 * Samples every process once it has been idle for `minIdleMs` (idle pool clients close after
 * that: Postgres' after 10 s, the upstream's keep-alive connections after 5 s) and its descriptor
 * counts have stood still for a moment, or at the deadline.
 */
async function settledSamples(
  apps: readonly AppProcess[],
  ports: ReadonlyMap<number, string>,
  minIdleMs: number,
): Promise<ProcessSample[]> {
  const read = () => {
    const tcp = tcpSockets();
    return apps.map((app) => sampleProcess(app.pid!, ports, tcp));
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
 * Waits until no fetch job is waiting or running and every spool directory is empty (a
 * fetch removes its spool file just after its last client got the last byte); returns what
 * was left at the deadline.
 */
async function drained(
  queue: Queue,
  spoolDirs: readonly string[],
): Promise<{ jobs: number; spool: number }> {
  const look = async () => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    const jobs = Object.values(counts).reduce((a, b) => a + b, 0);
    const spool = spoolDirs.reduce((sum, d) => sum + countFiles(d), 0);
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

function describe(names: readonly string[], samples: readonly ProcessSample[]): string {
  return samples
    .map((s, i) => `${names[i]} ${(s.rssKiB / 1024).toFixed(0)} MiB ${s.fds} fds`)
    .join(', ');
}

interface StackCounter {
  label: string;
  kind: 'fetcher' | 'gateway';
  metric: string;
  labels: Record<string, string>;
}

const each = (values: readonly string[], make: (value: string) => StackCounter): StackCounter[] =>
  values.map(make);

/** What the stack counted itself (fetch outcomes, revalidations, stale answers): its /metrics. */
const STACK_COUNTERS: readonly StackCounter[] = [
  ...each(['stored', 'unchanged', 'stale', 'failed'], (outcome) => ({
    label: `fetches ${outcome}`,
    kind: 'fetcher',
    metric: `${METRIC.fetchDuration}_count`,
    labels: { outcome },
  })),
  ...each(['unchanged', 'changed', 'missing', 'unreachable'], (result) => ({
    label: `revalidations ${result}`,
    kind: 'fetcher',
    metric: METRIC.revalidations,
    labels: { result },
  })),
  ...each(
    ['upstream_not_found', 'upstream_unavailable', 'upstream_integrity', 'storage_unavailable'],
    (reason) => ({
      label: `fetch failures ${reason}`,
      kind: 'fetcher',
      metric: METRIC.fetchFailures,
      labels: { reason },
    }),
  ),
  { label: 'cache hits', kind: 'gateway', metric: METRIC.cacheHits, labels: {} },
  { label: 'cache misses', kind: 'gateway', metric: METRIC.cacheMisses, labels: {} },
  { label: 'stale answers', kind: 'gateway', metric: METRIC.staleServed, labels: {} },
];

async function stackCounters(stack: Stack): Promise<Array<[string, number]>> {
  const scrape = (apps: readonly AppProcess[]) =>
    Promise.all(apps.map(async (app) => (await fetch(`${app.url}/metrics`)).text()));
  const texts = { fetcher: await scrape(stack.fetchers), gateway: await scrape(stack.gateways) };
  return STACK_COUNTERS.map(({ label, kind, metric, labels }) => [
    `${label} (${kind}s)`,
    texts[kind].reduce((sum, text) => sum + metricValue(text, metric, labels), 0),
  ]);
}
