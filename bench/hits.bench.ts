/**
 * npm run bench:hits: cached hits side by side. nginx proxy_cache (1 worker) and the cache (1
 * gateway, fs storage) serve the same files from the same nginx origin, measured with wrk in one
 * run, interleaved (nginx, then the cache, per case), so that the ratios mean something on a
 * shared, noisy machine; the absolute figures do not. Files of 4 KiB, 1 MiB and 64 MiB (random
 * bytes) at 1 and 32 connections. While warming, every body is checked by sha256 and the second
 * answer must be a hit. Prints one markdown table, also written to .data/bench-hits.md: req/s
 * (MB/s for 64 MiB), the ratio cache / nginx, p99 latency, and the CPU time per request of the
 * serving processes (utime+stime from /proc: nginx's master and worker, the gateway and its
 * children). A script that prints figures, never a test.
 * Knobs: BENCH_REPS (3), BENCH_DURATION (5 s per run), BENCH_THREADS (wrk threads, 2; never more
 * than the connections), BENCH_GATEWAY_PROCESSES (passed to the gateway as GATEWAY_PROCESSES).
 * Needs nginx and wrk: scripts/bench.sh runs scripts/ensure-deps.sh --for bench first.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, startRedis } from '../tools/services';
import * as topology from '../tools/topology';
import { findBinary, startProcess, waitUntilReady } from '../tools/processes';
import { freePort } from '../tools/ports';
import { download } from '../test/helpers/http';
import { Stack } from '../test/helpers/stack';

const MiB = 1024 * 1024;
const FILES = [
  { label: '4k', name: '4k.bin', size: 4096 },
  { label: '1m', name: '1m.bin', size: MiB },
  { label: '64m', name: '64m.bin', size: 64 * MiB },
];
const CONNECTIONS = [1, 32];
const REPS = knob('BENCH_REPS', 3);
const DURATION = knob('BENCH_DURATION', 5);
const THREADS = knob('BENCH_THREADS', 2);
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
const q = topology.nginxQuote;

type BenchFile = (typeof FILES)[number] & { sha256: string };
interface Target {
  label: string;
  url(file: BenchFile): string;
  /** the processes whose CPU time serving a request costs */
  pids(): number[];
  isHit(headers: IncomingHttpHeaders): boolean;
}
interface WrkResult {
  requests: number;
  rps: number;
  bytesPerSecond: number;
  p99Ms: number;
  /** socket errors and non-2xx/3xx answers */
  errors: number;
}
type Run = WrkResult & { cpuUsPerRequest: number };
/** One case: its runs for each target (nginx, cache), one per repetition. */
interface Case {
  file: BenchFile;
  connections: number;
  runs: [Run[], Run[]];
}

function knob(name: string, fallback: number): number {
  const value = Number(process.env[name] || fallback);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, not '${process.env[name]}'`);
  }
  return value;
}

// ----------------------------------------------------------------------------- what we started

const stops: Array<() => unknown> = [];
let releasing: Promise<void> | undefined;
let interrupted = false;
let wrkChild: ChildProcess | null = null;

/** Stops everything started so far, newest first; safe to call twice. */
function release(): Promise<void> {
  releasing ??= (async () => {
    wrkChild?.kill('SIGKILL');
    for (const stop of stops.reverse()) {
      await Promise.resolve()
        .then(stop)
        .catch((error) => process.stderr.write(`bench:hits: cleanup: ${String(error)}\n`));
    }
  })();
  return releasing;
}

// `on`, not `once`: while a listener of ours remains, tools/processes.ts does not re-raise the
// signal, which would end this process before the gateway and nginx are stopped.
const onSignal = (code: number) => (signal: NodeJS.Signals) => {
  if (!interrupted) {
    interrupted = true;
    process.stderr.write(`bench:hits: ${signal}, stopping what it started\n`);
    void release().finally(() => process.exit(code));
  }
};
process.on('SIGINT', onSignal(130));
process.on('SIGTERM', onSignal(143));

// ----------------------------------------------------------------------------- setup

function writeFiles(dir: string): BenchFile[] {
  return FILES.map((file) => {
    const hash = createHash('sha256');
    const fd = fs.openSync(join(dir, file.name), 'w');
    for (let done = 0; done < file.size; done += MiB) {
      const chunk = randomBytes(Math.min(MiB, file.size - done));
      hash.update(chunk);
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    return { ...file, sha256: hash.digest('hex') };
  });
}

/** An nginx with one worker on `port`, all its files in `dir`, serving `location`. */
async function startNginx(name: string, dir: string, port: number, location: string, http = '') {
  fs.mkdirSync(dir, { recursive: true });
  const [conf, errorLog] = [join(dir, 'nginx.conf'), join(dir, 'error.log')];
  // keepalive_requests: nginx closes a connection after 1000 requests by default, the gateway
  // never; wrk would reconnect on one side only.
  fs.writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${q(join(dir, 'nginx.pid'))};
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
${topology.nginxTempPaths(dir)}
${http}
  server {
    listen 127.0.0.1:${port};
    location / {
${location}
    }
  }
}
`,
  );
  const args = ['-p', dir, '-e', errorLog, '-c', conf, '-g', 'daemon off;'];
  const nginx = findBinary('nginx', 'nginx-light');
  const daemon = await startProcess(name, nginx, args, { logFile: errorLog });
  stops.push(() => daemon.stop());
  const probe = () =>
    fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.body?.cancel().then(() => true) ?? true,
      () => false,
    );
  await waitUntilReady(daemon, `${name} on port ${port} to answer`, probe);
  return daemon;
}

async function startCache(dir: string, originUrl: string): Promise<Stack> {
  const redis = await startRedis({ dataDir: join(dir, 'redis') });
  stops.push(() => redis.stop());
  const postgres = await startPostgres({ dataDir: join(dir, 'postgres'), database: 'bench' });
  stops.push(() => postgres.stop());
  // Where test/helpers/stack.ts takes its Redis, Postgres and temp dir from.
  Object.assign(process.env, {
    TEST_TMP_DIR: dir,
    TEST_REDIS_URL: redis.url,
    TEST_DATABASE_URL: postgres.url,
  });
  const processes = process.env.BENCH_GATEWAY_PROCESSES;
  const stack = await Stack.start({
    remotes: { files: { package: 'generic', base_url: originUrl } },
    storage: 'fs',
    env: processes ? { GATEWAY_PROCESSES: processes } : {},
  });
  stops.push(() => stack.stop());
  const apps = [...stack.gateways, ...stack.fetchers].map((app) => `${app.kind} ${app.pid}`);
  process.stderr.write(
    `started redis ${redis.pid}, postgres ${postgres.pid}, ${apps.join(', ')}\n`,
  );
  return stack;
}

/** The first two GETs of every file: the right bytes both times, and the second one a hit. */
async function warm(target: Target, files: BenchFile[]): Promise<void> {
  for (const file of files) {
    for (const attempt of ['first', 'second']) {
      const r = await download(target.url(file));
      if (r.status !== 200 || !r.complete || r.size !== file.size || r.sha256 !== file.sha256) {
        throw new Error(
          `${target.label} answered the ${attempt} GET of ${file.name} with the wrong bytes: ` +
            `HTTP ${r.status}, ${r.size} of ${file.size} bytes${r.complete ? '' : ' (broken)'}, ` +
            `sha256 ${r.sha256}, expected ${file.sha256}; aborting`,
        );
      }
      if (attempt === 'second' && !target.isHit(r.headers)) {
        throw new Error(`${target.label}: the second GET of ${file.name} was not a hit; aborting`);
      }
    }
  }
}

// ----------------------------------------------------------------------------- measuring

/** /proc/PID/stat after "pid (comm) ": [1] ppid, [11] utime, [12] stime. */
function statFields(pid: number): string[] {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return [];
  }
}

/** `root` and every process below it (nginx's worker, a gateway's worker processes). */
function processTree(root: number): number[] {
  const all = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  const parentOf = new Map(all.map((pid) => [Number(pid), Number(statFields(Number(pid))[1])]));
  const tree = [root];
  for (let i = 0; i < tree.length; i += 1) {
    tree.push(...[...parentOf].filter(([, ppid]) => ppid === tree[i]).map(([pid]) => pid));
  }
  return tree;
}

/** utime + stime of the processes (all their threads), in clock ticks. */
const cpuTicks = (pids: number[]): number =>
  pids.map(statFields).reduce((sum, f) => sum + (f.length ? Number(f[11]) + Number(f[12]) : 0), 0);

const TIME_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
const BYTES: Record<string, number> = {
  '': 1,
  K: 1024,
  M: MiB,
  G: 1024 * MiB,
  T: 1024 * 1024 * MiB,
};

/** The figures of `wrk --latency` output (its units are binary: its MB is a MiB). */
function parseWrk(output: string): WrkResult {
  const grab = (pattern: RegExp): string[] => {
    const match = pattern.exec(output);
    if (!match) {
      throw new Error(`no ${pattern.source} in the output of wrk:\n${output}`);
    }
    return match;
  };
  const [, transfer, unit] = grab(/Transfer\/sec:\s+([\d.]+)([KMGT]?)B/);
  const [, p99, p99Unit] = grab(/^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requests: Number(grab(/(\d+) requests in /)[1]),
    rps: Number(grab(/Requests\/sec:\s+([\d.]+)/)[1]),
    bytesPerSecond: Number(transfer) * BYTES[unit],
    p99Ms: Number(p99) * TIME_MS[p99Unit],
    errors: [...(socket?.slice(1) ?? []), non2xx?.[1] ?? 0].reduce<number>((a, n) => a + +n, 0),
  };
}

function runWrk(url: string, connections: number): Promise<string> {
  const threads = Math.min(THREADS, connections);
  const args = [`-t${threads}`, `-c${connections}`, `-d${DURATION}s`, '--timeout', '30s'];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', [...args, '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    wrkChild = child;
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      wrkChild = null;
      return code === 0
        ? resolve(output)
        : reject(new Error(`wrk ${url}: ${code ?? signal}\n${output}`));
    });
  });
}

async function measure(target: Target, file: BenchFile, connections: number): Promise<Run> {
  const pids = target.pids();
  const before = cpuTicks(pids);
  const result = parseWrk(await runWrk(target.url(file), connections));
  const seconds = (cpuTicks(pids) - before) / HZ;
  return { ...result, cpuUsPerRequest: (seconds * 1e6) / result.requests };
}

// ----------------------------------------------------------------------------- report

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (n: number): string => n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2);

function tableRow({ file, connections, runs: [nginx, cache] }: Case): string {
  const big = file.size > 4 * MiB;
  const figure = (run: Run) => (big ? run.bytesPerSecond / 1e6 : run.rps);
  const unit = big ? 'MB/s' : 'req/s';
  const both = (pick: (run: Run) => number) =>
    `${fmt(median(nginx.map(pick)))} / ${fmt(median(cache.map(pick)))}`;
  return [
    `${file.label} @ ${connections}`,
    `${fmt(median(nginx.map(figure)))} ${unit}`,
    `${fmt(median(cache.map(figure)))} ${unit}`,
    median(cache.map((run, i) => figure(run) / figure(nginx[i]))).toFixed(2),
    `${both((r) => r.p99Ms)} ms`,
    `${both((r) => r.cpuUsPerRequest)} µs`,
  ].join(' | ');
}

function versions(): string {
  const first = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`.split('\n')[0].trim();
  };
  const nginx = first(findBinary('nginx', 'nginx-light'), ['-v']);
  return `${nginx.replace('nginx version: ', '')}, ${first('wrk', ['-v']).split(' [')[0]}, node ${process.version}`;
}

function report(cases: Case[], loadBefore: number[], errors: string[]): string {
  const load = (l: number[]) => l.map((n) => n.toFixed(2)).join(' ');
  const processes = process.env.BENCH_GATEWAY_PROCESSES;
  return [
    `# Cached hits: nginx proxy_cache and the cache, ${new Date().toISOString()}`,
    '',
    `- machine: nproc ${availableParallelism()}, load average before ${load(loadBefore)}, after ${load(loadavg())}`,
    `- versions: ${versions()}`,
    `- nginx proxy_cache: worker_processes 1, sendfile on, in front of an nginx origin; the cache: ` +
      `1 gateway${processes ? ` (GATEWAY_PROCESSES=${processes})` : ''}, fs storage, the same origin`,
    `- method: wrk -t${THREADS} (-t1 at 1 connection) -c<conns> -d${DURATION}s --latency, ${REPS} ` +
      `repetition(s), nginx then the cache for each case; medians. ratio = cache / nginx in the same ` +
      `repetition (req/s; MB/s for 64m). CPU/req = utime+stime of the serving processes / requests`,
    '',
    '| case | nginx proxy_cache | cache | ratio | p99 nginx / cache | CPU/req nginx / cache |',
    '|---|---|---|---|---|---|',
    ...cases.map((c) => `| ${tableRow(c)} |`),
    '',
    errors.length ? `wrk errors (socket or non-2xx): ${errors.join('; ')}` : 'no wrk errors',
    '',
  ].join('\n');
}

// ----------------------------------------------------------------------------- main

async function startTargets(dir: string): Promise<[Target, Target]> {
  const [originPort, proxyPort] = [await freePort(), await freePort()];
  const files = join(dir, 'files');
  const origin = await startNginx(
    'nginx-origin',
    join(dir, 'origin'),
    originPort,
    `root ${q(files)};`,
  );
  const cacheDir = q(join(dir, 'proxy-cache', 'cache'));
  const proxy = await startNginx(
    'nginx-proxy-cache',
    join(dir, 'proxy-cache'),
    proxyPort,
    `proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
     proxy_cache bench; proxy_cache_valid 200 10y;
     add_header X-Cache-Status $upstream_cache_status always;`,
    `upstream origin { server 127.0.0.1:${originPort}; keepalive 16; }
     proxy_cache_path ${cacheDir} levels=1:2 keys_zone=bench:16m inactive=10y use_temp_path=off;`,
  );
  process.stderr.write(`started nginx origin ${origin.pid}, nginx proxy_cache ${proxy.pid}\n`);
  const stack = await startCache(dir, `http://127.0.0.1:${originPort}`);
  const gatewayPid = stack.gateways[0].pid!;
  return [
    {
      label: 'nginx proxy_cache',
      url: (file) => `http://127.0.0.1:${proxyPort}/${file.name}`,
      pids: () => processTree(proxy.pid),
      isHit: (headers) => headers['x-cache-status'] === 'HIT',
    },
    {
      label: 'cache',
      url: (file) => `${stack.url(0)}/api/v1/remote/files/${file.name}`,
      pids: () => processTree(gatewayPid),
      isHit: (headers) => headers['x-artifact-source'] === 'cache',
    },
  ];
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const dir = fs.mkdtempSync(join(tmpdir(), 'artifactcache-bench-hits-'));
  stops.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  // As root, Postgres runs as `postgres` and must enter it.
  fs.chmodSync(dir, 0o755);
  try {
    fs.mkdirSync(join(dir, 'files'));
    const files = writeFiles(join(dir, 'files'));
    const targets = await startTargets(dir);
    process.stderr.write('warming both and checking every body ...\n');
    for (const target of targets) {
      await warm(target, files);
    }
    const cases = files.flatMap((file) =>
      CONNECTIONS.map((connections): Case => ({ file, connections, runs: [[], []] })),
    );
    const errors: string[] = [];
    for (let rep = 1; rep <= REPS; rep += 1) {
      for (const { file, connections, runs } of cases) {
        for (const [i, target] of targets.entries()) {
          const run = await measure(target, file, connections);
          runs[i].push(run);
          const what = `rep ${rep}/${REPS} ${file.label}@${connections} ${target.label}`;
          if (run.errors > 0) {
            errors.push(`${what}: ${run.errors}`);
          }
          process.stderr.write(
            `${what}: ${fmt(run.rps)} req/s, ${fmt(run.bytesPerSecond / 1e6)} MB/s, p99 ` +
              `${fmt(run.p99Ms)} ms, ${fmt(run.cpuUsPerRequest)} µs CPU/req, ${run.errors} errors\n`,
          );
        }
      }
    }
    const text = report(cases, loadBefore, errors);
    fs.mkdirSync(join(__dirname, '..', '.data'), { recursive: true });
    fs.writeFileSync(join(__dirname, '..', '.data', 'bench-hits.md'), text);
    process.stdout.write(`\n${text}`);
  } finally {
    await release();
  }
}

main().catch(async (error: unknown) => {
  if (interrupted) {
    return; // the signal handler exits once everything is stopped
  }
  process.stderr.write(`bench:hits: ${error instanceof Error ? error.stack : String(error)}\n`);
  await release();
  process.exit(1);
});
