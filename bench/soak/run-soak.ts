import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FETCH_QUEUE } from '@app/jobs';
import { requireEnv } from '../../test/helpers/isolated-services';
import { Stack } from '../../test/helpers/stack';
import { UpstreamServer } from '../../test/helpers/upstream-server';
import { Corpus, HOSTED_REMOTE, INDEX_DIR, PROXY_REMOTE } from './corpus';
import { GC_PROBE, type IdleSample, IdleSampler } from './idle-sampler';
import { countFiles, countSpoolFiles } from './process-stats';
import { formatReport } from './report';
import { stackCounters } from './stack-counters';
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
   * the apps' memory grew for the first 2 to 4 minutes
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
/** Node's warning when the garbage collector closes a FileHandle its owner never closed */
const FD_CLOSED_BY_GC = /Closing file descriptor \d+ on garbage collection/g;

/**
 * The soak: a loopback upstream with known bodies, a stack of 2 gateways and 2 fetchers (fs
 * storage, a generic remote with mutable indexes, a hosted remote), `connections` client loops
 * of mixed operations for `seconds`, and the processes' RSS and descriptors at the start, after
 * the warm-up and at the end. Needs TEST_TMP_DIR, TEST_REDIS_URL and TEST_DATABASE_URL (the e2e
 * global setup, or bench/soak.ts, provides them) and the built apps (`npm run build`).
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const warmupSeconds = options.warmupSeconds ?? Math.max(5, Math.round(options.seconds * 0.4));
  const signal = options.signal ?? new AbortController().signal;
  const runDir = join(
    requireEnv('TEST_TMP_DIR'),
    `soak-${process.pid}-${randomBytes(3).toString('hex')}`,
  );
  // A TMPDIR of the soak's own: the spool directories counted are surely these fetchers'.
  const tmpDir = join(runDir, 'tmp');
  const probeDir = join(runDir, 'gc-probe');
  mkdirSync(tmpDir, { recursive: true });

  const upstream = new UpstreamServer();
  const corpus = new Corpus(upstream, { poolFiles: 24, indexFiles: 8, repeatedMissing: 16 });
  let stack: Stack | null = null;
  let workload: Workload | null = null;
  let queue: Queue | null = null;
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
      env: {
        ADMIN_TOKEN,
        TMPDIR: tmpDir,
        NODE_OPTIONS: `--expose-gc --require ${GC_PROBE}`,
        SOAK_GC_PROBE_DIR: probeDir,
      },
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
    queue = new Queue(FETCH_QUEUE, { connection: { url: stack.redisUrl } });
    const sampler = new IdleSampler(apps, ports, queue, spoolDirs, probeDir);
    log(`stack up: gateways ${stack.gateways.map((g) => g.url).join(', ')}; logs in ${stack.dir}`);
    const start = await sampler.sample(0);

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
    workload.start();
    log(`load: ${options.connections} connections, warm-up ${warmupSeconds} s`);
    await runFor(warmupSeconds, signal, () => progress(log, workload!, load));

    // Both samples with the load paused: the clients' keep-alive connections still open.
    load.pause();
    await workload.pause();
    const warm = await sampler.sample();
    log(`after warm-up: ${describe(names, warm)}`);
    workload.resume();
    load.resume();

    await runFor(options.seconds - warmupSeconds, signal, () => progress(log, workload!, load));
    load.pause();
    await workload.pause();
    timers.forEach(clearInterval);
    const end = await sampler.sample();
    log(`end: ${describe(names, end)}`);
    await workload.stop();

    const processes: ProcessSamples[] = names.map((name, i) => ({
      name: `${name} (pid ${apps[i].pid})`,
      start: start.processes[i],
      warm: warm.processes[i],
      end: end.processes[i],
      startGc: start.afterGc[i],
      warmGc: warm.afterGc[i],
      endGc: end.afterGc[i],
    }));
    const spool = stack.fetchers.map((_, i) => ({
      name: `fetcher-${i}`,
      dir: spoolDirs[i],
      files: countSpoolFiles(spoolDirs[i]),
    }));
    const spoolLeftovers = spool.reduce((sum, s) => sum + s.files, 0);
    const fdsClosedByGc = apps.reduce(
      (n, app) => n + (app.log().match(FD_CLOSED_BY_GC)?.length ?? 0),
      0,
    );
    const failures = verdict(
      {
        unexpected: workload.tally.unexpected,
        processes,
        spoolLeftovers,
        queuedJobs: end.queuedJobs,
        fdsClosedByGc,
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
      otherTempFiles: countFiles(tmpDir) - spoolDirs.reduce((sum, dir) => sum + countFiles(dir), 0),
      queuedJobs: end.queuedJobs,
      fdsClosedByGc,
      loadSeconds: load.seconds,
      limits,
      failures,
      stackCounters: await stackCounters(stack),
    });
    return { failures, unexpected: workload.tally.unexpected, report, stackDir: stack.dir };
  } finally {
    // Every step whatever the others did: after a Ctrl-C, Redis may be gone already and the
    // queue's close fail, and the apps must still be stopped.
    timers.forEach(clearInterval);
    await workload?.stop({ cut: true });
    await stack?.stop();
    if (killOnExit) {
      process.removeListener('exit', killOnExit);
    }
    await queue?.close().catch(() => undefined);
    await upstream.stop();
    rmSync(runDir, { recursive: true, force: true });
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

function describe(names: readonly string[], sample: IdleSample): string {
  const apps = sample.processes
    .map(
      (s, i) =>
        `${names[i]} ${(sample.afterGc[i].rssKiB / 1024).toFixed(0)} MiB after GC, ${s.fds} fds`,
    )
    .join('; ');
  return `${apps}; queue ${sample.queuedJobs}, spool ${sample.spoolFiles}`;
}
