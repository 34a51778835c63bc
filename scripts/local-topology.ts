/**
 * The production shape of docker-compose.yml from local binaries, without Docker: Redis, Postgres,
 * s3rver (standing in for MinIO), two fetchers and two gateways (the built apps, `npm run build`),
 * nginx load-balancing the gateways with the proxy settings of deploy/nginx, and Prometheus
 * scraping the four apps with deploy/prometheus/prometheus.yml's jobs and alerts.yml's rules. Every
 * port is a free loopback port; every file (configs, logs, data, spool) is in one temp dir, removed
 * on stop. Used by test/ops/topology.e2e-spec.ts and by hand.
 *
 * Library:  startTopology(options) → URLs + stop().
 * CLI:      node -r ts-node/register/transpile-only -r tsconfig-paths/register \
 *             scripts/local-topology.ts up [--config FILE] [--admin-token TOKEN] [--port N] \
 *             [--prometheus-port N] [--gateways N] [--fetchers N] [--keep]
 *           Prints the URLs once everything answers and stays in the foreground; SIGINT/SIGTERM
 *           stops everything it started. Exits non-zero if a process dies on its own.
 *
 * Needs: redis-server, postgresql, nginx, prometheus (bash scripts/ensure-deps.sh --for test).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { waitFor } from '../test/helpers/wait-for';
import {
  APP_NODE_FLAGS,
  freePort,
  startPostgres,
  startRedis,
  startS3Server,
  type ServiceHandle,
} from './local-services';

const ROOT = path.resolve(__dirname, '..');
const HOST = '127.0.0.1';
const ENTRY = {
  gateway: path.join(ROOT, 'dist/apps/gateway/src/main.js'),
  fetcher: path.join(ROOT, 'dist/apps/fetcher/src/main.js'),
};
const DEPLOY = {
  nginxProxy: path.join(ROOT, 'deploy/nginx/artifact-cache-proxy.conf'),
  prometheus: path.join(ROOT, 'deploy/prometheus/prometheus.yml'),
};
const STOP_TIMEOUT_MS = 15_000;

/** An S3 endpoint and bucket (the bucket must exist). */
export interface S3Settings {
  endpoint: string;
  bucket: string;
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface TopologyOptions {
  /** remotes file for every app (default config/remotes.yaml) */
  configFile?: string;
  /** or the remotes file's content (`remotes`, `docker`), written to the topology's dir */
  remotesFile?: Record<string, unknown>;
  gateways?: number;
  fetchers?: number;
  /** ADMIN_TOKEN of the gateways (default unset: admin routes answer 403) */
  adminToken?: string;
  /** more environment for every app */
  env?: Record<string, string>;
  /** existing services to use instead of starting Redis / Postgres / s3rver */
  redisUrl?: string;
  databaseUrl?: string;
  s3?: S3Settings;
  /** nginx and Prometheus ports (default: free ports) */
  port?: number;
  prometheusPort?: number;
  /** Prometheus scrape and rule evaluation interval in seconds (default 1) */
  scrapeIntervalSeconds?: number;
  /** the temp dir is created under this one (default os.tmpdir()) */
  parentDir?: string;
  /** keep the temp dir (logs, data) after stop() */
  keep?: boolean;
  /** progress lines (default: none) */
  log?: (line: string) => void;
  /** aborting it during start-up stops what was started and rejects with StartAborted */
  signal?: AbortSignal;
}

export interface ProcessInfo {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
}

export interface Topology {
  readonly dir: string;
  /** what clients use: nginx in front of the gateways */
  readonly url: string;
  readonly gatewayUrls: readonly string[];
  readonly fetcherUrls: readonly string[];
  readonly prometheusUrl: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly s3: S3Settings;
  readonly processes: readonly ProcessInfo[];
  /** settles with the first process (app, nginx, Prometheus, service) that exits */
  readonly firstExit: Promise<ProcessInfo>;
  /** stops everything startTopology started (safe to call twice) */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// processes

export interface Daemon extends ProcessInfo {
  readonly exited: Promise<void>;
  hasExited(): boolean;
  stop(): Promise<void>;
}

const live = new Set<Daemon>();
let exitHookInstalled = false;

export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw err;
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) {
    return;
  }
  exitHookInstalled = true;
  // Last resort when the owner exits without stop() (uncaught error, process.exit): nothing may
  // outlive it. Synchronous, so a signal is all that can be done here.
  process.on('exit', () => {
    for (const daemon of live) {
      signalGroup(daemon.pid, 'SIGKILL');
    }
  });
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `cmd` in its own process group (so a Ctrl-C meant for us does not reach it half-way
 * through our shutdown, and stop() signals exactly its group), output to `logFile`.
 */
export async function startDaemon(
  name: string,
  cmd: string,
  args: string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<Daemon> {
  installExitHook();
  const fd = fs.openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    fs.closeSync(fd);
  }
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', (err) =>
      reject(new Error(`cannot start ${name} (${cmd}): ${err.message}`)),
    );
  });
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const exited = hasExited()
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const daemon: Daemon = {
    name,
    pid,
    logFile: options.logFile,
    exited,
    hasExited,
    stop: () => {
      stopping ??= (async () => {
        if (!hasExited()) {
          signalGroup(pid, 'SIGTERM');
          if (!(await settlesWithin(exited, STOP_TIMEOUT_MS))) {
            signalGroup(pid, 'SIGKILL');
            await settlesWithin(exited, 5_000);
          }
        }
        live.delete(daemon);
      })();
      return stopping;
    },
  };
  live.add(daemon);
  return daemon;
}

function tailOf(file: string, lines = 30): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    return text
      ? `\n--- last lines of ${file} ---\n${text.split('\n').slice(-lines).join('\n')}`
      : '';
  } catch {
    return '';
  }
}

/**
 * Polls `probe` until it says yes; fails at once (with the log tail) when the process exits, and
 * when `signal` is aborted (a Ctrl-C during start-up).
 */
export async function waitUntilReady(
  daemon: Daemon,
  what: string,
  probe: () => Promise<boolean>,
  signal: AbortSignal | undefined,
  timeoutMs = 60_000,
): Promise<void> {
  let outcome: 'ready' | 'exited' | 'aborted';
  try {
    // Early exits are values, not throws: waitFor treats a throw as "not yet" and polls on.
    outcome = await waitFor(
      async () =>
        signal?.aborted
          ? ('aborted' as const)
          : daemon.hasExited()
            ? ('exited' as const)
            : (await probe())
              ? ('ready' as const)
              : false,
      { description: what, timeoutMs, intervalMs: 100 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}${tailOf(daemon.logFile)}`);
  }
  if (outcome === 'exited') {
    throw new Error(
      `${daemon.name} (pid ${daemon.pid}) exited during start-up${tailOf(daemon.logFile)}`,
    );
  }
  if (outcome === 'aborted') {
    throw new StartAborted();
  }
}

/** startTopology's `signal` was aborted. */
export class StartAborted extends Error {
  constructor() {
    super('start-up aborted');
    this.name = 'StartAborted';
  }
}

async function answers(url: string, accept: (status: number) => boolean): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return accept(response.status);
  } catch {
    return false;
  }
}

/** `name` on PATH, else in the sbin directories a non-root PATH lacks on Debian. */
export function findBinary(name: string, pkg: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const candidate = path.join(dir || '.', name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(
    `${name} not found (Debian package ${pkg}); install it with: bash scripts/ensure-deps.sh --for test`,
  );
}

// ---------------------------------------------------------------------------------------------
// generated configs

/** nginx config quoting: the temp dir has no quotes, but a parent dir might have spaces. */
function q(value: string): string {
  if (/["\\$]/.test(value)) {
    throw new Error(`cannot use ${value} in an nginx config`);
  }
  return `"${value}"`;
}
export { q as nginxQuote };

/** Every temp path an nginx http block has, inside `dir` (the defaults are under /var/lib/nginx). */
export function nginxTempPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${q(path.join(dir, kind))};`)
    .join('\n');
}

export function nginxConfig(options: {
  /** pid file and temp paths */
  dir: string;
  logDir: string;
  port: number;
  gateways: readonly string[];
}): string {
  const { dir, logDir } = options;
  const servers = options.gateways
    .map((url) => `    server ${new URL(url).host} max_fails=3 fail_timeout=10s;`)
    .join('\n');
  // Same shape as deploy/nginx/nginx.conf; the proxy directives are the very same file.
  return `# generated by scripts/local-topology.ts
daemon off;
worker_processes 2;
pid ${q(path.join(dir, 'nginx.pid'))};
error_log ${q(path.join(logDir, 'nginx-error.log'))} notice;

events {
  worker_connections 1024;
}

http {
  log_format cache '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                   'rt=$request_time uht=$upstream_header_time gw=$upstream_addr '
                   'src=$upstream_http_x_artifact_source';
  access_log ${q(path.join(logDir, 'nginx-access.log'))} cache;
${nginxTempPaths(dir)}
  server_tokens off;

  upstream gateways {
${servers}
    keepalive 16;
  }

  server {
    listen ${HOST}:${options.port};

    # Prometheus scrapes every replica directly; through the balancer each scrape would hit
    # another replica and the counters would jump back and forth.
    location = /metrics {
      return 404;
    }

    location / {
      proxy_pass http://gateways;
      include ${q(DEPLOY.nginxProxy)};
    }
  }
}
`;
}

interface PromConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs?: { job_name: string; static_configs?: { targets: string[] }[] }[];
  [key: string]: unknown;
}

/**
 * deploy/prometheus/prometheus.yml with the compose host names replaced by this topology's
 * addresses, rule files made absolute and the intervals shortened: the jobs and the alert rules
 * that run here are the ones that run in compose.
 */
export function prometheusConfig(options: {
  gateways: readonly string[];
  fetchers: readonly string[];
  self: string;
  intervalSeconds: number;
}): string {
  const base = parse(fs.readFileSync(DEPLOY.prometheus, 'utf8')) as PromConfig;
  const targets: Record<string, readonly string[]> = {
    gateway: options.gateways,
    fetcher: options.fetchers,
    prometheus: [options.self],
  };
  const jobs = base.scrape_configs ?? [];
  for (const job of ['gateway', 'fetcher']) {
    if (!jobs.some((j) => j.job_name === job)) {
      throw new Error(`${DEPLOY.prometheus}: no scrape job named ${job}`);
    }
  }
  const interval = `${options.intervalSeconds}s`;
  const config: PromConfig = {
    ...base,
    global: {
      ...base.global,
      scrape_interval: interval,
      scrape_timeout: interval,
      evaluation_interval: interval,
    },
    rule_files: (base.rule_files ?? []).map((file) =>
      path.resolve(path.dirname(DEPLOY.prometheus), file),
    ),
    scrape_configs: jobs.map((job) => {
      const own = targets[job.job_name];
      if (!own) {
        throw new Error(`${DEPLOY.prometheus}: no local targets for job ${job.job_name}`);
      }
      return { ...job, static_configs: [{ targets: own.map((url) => new URL(url).host) }] };
    }),
  };
  return `# generated by scripts/local-topology.ts from ${DEPLOY.prometheus}\n${stringify(config)}`;
}

// ---------------------------------------------------------------------------------------------
// the topology

/**
 * Promise.all that waits for every promise to settle before failing, so that stop() after a
 * failure sees every process that was started, and reports every failure at once.
 */
async function allSettledOrThrow<T>(promises: (T | Promise<T>)[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length > 0 && failed.every((e) => e instanceof StartAborted)) {
    throw new StartAborted();
  }
  if (failed.length > 0) {
    throw new Error(failed.map((e) => (e instanceof Error ? e.message : String(e))).join('\n'));
  }
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function appEnv(base: Record<string, string>, own: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...env, ...base, ...own };
}

/**
 * Starts the topology. Everything started is stopped again when a step fails, and by stop().
 * Needs the built apps (`npm run build`).
 */
export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const began = Date.now();
  const sink = options.log ?? (() => undefined);
  const log = (line: string): void =>
    sink(`${line} [+${((Date.now() - began) / 1000).toFixed(1)} s]`);
  const gatewayCount = options.gateways ?? 2;
  const fetcherCount = options.fetchers ?? 2;
  if (gatewayCount < 1 || fetcherCount < 1) {
    throw new Error('a topology needs at least one gateway and one fetcher');
  }
  for (const entry of Object.values(ENTRY)) {
    if (!fs.existsSync(entry)) {
      throw new Error(`${entry} is missing: run npm run build first`);
    }
  }
  const nginxBin = findBinary('nginx', 'nginx-light');
  const prometheusBin = findBinary('prometheus', 'prometheus');

  const parent = options.parentDir ?? os.tmpdir();
  const dir = await fsp.mkdtemp(path.join(parent, 'artifactcache-topology-'));
  // As root, Postgres runs as `postgres` and nginx workers as `nobody`: both must enter it.
  await fsp.chmod(dir, 0o755);
  const logs = path.join(dir, 'logs');
  const tmp = path.join(dir, 'tmp');
  await Promise.all([logs, tmp].map((d) => fsp.mkdir(d, { recursive: true })));

  const services: ServiceHandle[] = [];
  const daemons: Daemon[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const byName = (prefix: string) => daemons.filter((d) => d.name.startsWith(prefix));
      // Front to back, so nothing logs lost connections to what stopped before it.
      await Promise.allSettled(byName('nginx').map((d) => d.stop()));
      await Promise.allSettled(
        [...byName('gateway'), ...byName('prometheus')].map((d) => d.stop()),
      );
      await Promise.allSettled(byName('fetcher').map((d) => d.stop()));
      await Promise.allSettled(services.map((s) => s.stop()));
      if (!options.keep) {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    })();
    return stopping;
  };

  try {
    // --- Redis, Postgres, S3 -----------------------------------------------------------------
    const [redisUrl, databaseUrl, s3] = (await allSettledOrThrow<unknown>([
      options.redisUrl ??
        startRedis({ dataDir: path.join(dir, 'redis') }).then((h) => {
          services.push(h);
          log(`redis ${h.url} (pid ${h.pid})`);
          return h.url;
        }),
      options.databaseUrl ??
        startPostgres({ dataDir: path.join(dir, 'postgres'), database: 'artifactcache' }).then(
          (h) => {
            services.push(h);
            log(`postgres ${h.url} (pid ${h.pid})`);
            return h.url;
          },
        ),
      options.s3 ??
        startS3Server({ dataDir: path.join(dir, 's3'), bucket: 'artifactcache' }).then((h) => {
          services.push(h);
          log(`s3rver ${h.endpoint} bucket ${h.bucket} (pid ${h.pid})`);
          return {
            endpoint: h.endpoint,
            bucket: h.bucket,
            accessKeyId: h.accessKeyId,
            secretAccessKey: h.secretAccessKey,
          } satisfies S3Settings;
        }),
    ])) as [string, string, S3Settings];

    if (options.signal?.aborted) {
      throw new StartAborted();
    }
    let configFile = path.resolve(options.configFile ?? path.join(ROOT, 'config/remotes.yaml'));
    if (options.remotesFile) {
      configFile = path.join(dir, 'remotes.yaml');
      await fsp.writeFile(configFile, stringify(options.remotesFile));
    }

    // --- fetchers and gateways ------------------------------------------------------------------------
    const common: Record<string, string> = {
      NODE_ENV: 'production',
      // The fetchers' spool files live under TMPDIR: in the topology's dir, removed with it.
      TMPDIR: tmp,
      HOST,
      ARTIFACT_CONFIG: configFile,
      REDIS_URL: redisUrl,
      DATABASE_URL: databaseUrl,
      STORAGE_DRIVER: 's3',
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_REGION: s3.region ?? 'us-east-1',
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      ...(options.adminToken ? { ADMIN_TOKEN: options.adminToken } : {}),
      ...options.env,
    };
    const startApp = async (kind: 'gateway' | 'fetcher', index: number): Promise<string> => {
      const port = await freePort();
      const url = `http://${HOST}:${port}`;
      const own: Record<string, string> =
        kind === 'gateway'
          ? { PORT: String(port) }
          : { FETCHER_PORT: String(port), FETCHER_ADVERTISE_URL: url };
      const name = `${kind}-${index + 1}`;
      const daemon = await startDaemon(name, process.execPath, [...APP_NODE_FLAGS, ENTRY[kind]], {
        logFile: path.join(logs, `${name}.log`),
        env: appEnv(common, own),
      });
      daemons.push(daemon);
      // Healthy (200), not just listening: Redis, Postgres and storage all answer by now.
      await waitUntilReady(
        daemon,
        `${name} on ${url} to answer /health with 200`,
        () => answers(`${url}/health`, (status) => status === 200),
        options.signal,
      );
      log(`${name} ${url} (pid ${daemon.pid})`);
      return url;
    };
    // All at once: a gateway needs no fetcher to start (misses wait in the queue meanwhile).
    const appUrls = await allSettledOrThrow([
      ...Array.from({ length: fetcherCount }, (_, i) => startApp('fetcher', i)),
      ...Array.from({ length: gatewayCount }, (_, i) => startApp('gateway', i)),
    ]);
    const fetcherUrls = appUrls.slice(0, fetcherCount);
    const gatewayUrls = appUrls.slice(fetcherCount);

    // --- nginx and Prometheus -------------------------------------------------------------------
    const nginxDir = path.join(dir, 'nginx');
    await fsp.mkdir(nginxDir, { recursive: true });
    const nginxPort = options.port ?? (await freePort());
    const nginxConf = path.join(nginxDir, 'nginx.conf');
    const nginxErrorLog = path.join(logs, 'nginx-error.log');
    await fsp.writeFile(
      nginxConf,
      nginxConfig({ dir: nginxDir, logDir: logs, port: nginxPort, gateways: gatewayUrls }),
    );
    // -e: the error log before the config is read (the default is /var/log/nginx/error.log).
    const nginxArgs = ['-p', nginxDir, '-c', nginxConf, '-e', nginxErrorLog];
    // `nginx -t` names the bad line; a failed start would only show it in the error log.
    const checked = spawnSync(nginxBin, [...nginxArgs, '-t'], { encoding: 'utf8' });
    if (checked.status !== 0) {
      throw new Error(`nginx -t -c ${nginxConf} failed:\n${checked.stderr}${checked.stdout}`);
    }

    const promDir = path.join(dir, 'prometheus');
    await fsp.mkdir(promDir, { recursive: true });
    const promPort = options.prometheusPort ?? (await freePort());
    const prometheusUrl = `http://${HOST}:${promPort}`;
    const promConf = path.join(promDir, 'prometheus.yml');
    await fsp.writeFile(
      promConf,
      prometheusConfig({
        gateways: gatewayUrls,
        fetchers: fetcherUrls,
        self: prometheusUrl,
        intervalSeconds: options.scrapeIntervalSeconds ?? 1,
      }),
    );

    const url = `http://${HOST}:${nginxPort}`;
    const [nginx, prometheus] = await allSettledOrThrow([
      startDaemon('nginx', nginxBin, nginxArgs, { logFile: nginxErrorLog }),
      startDaemon(
        'prometheus',
        prometheusBin,
        [
          `--config.file=${promConf}`,
          `--storage.tsdb.path=${path.join(promDir, 'data')}`,
          `--web.listen-address=${HOST}:${promPort}`,
          '--storage.tsdb.retention.time=1d',
        ],
        { logFile: path.join(logs, 'prometheus.log'), cwd: promDir },
      ),
    ]);
    daemons.push(nginx, prometheus);
    await allSettledOrThrow([
      waitUntilReady(
        nginx,
        `nginx on ${url} to pass /health to a gateway`,
        () => answers(`${url}/health`, (status) => status === 200),
        options.signal,
      ),
      waitUntilReady(
        prometheus,
        `prometheus on ${prometheusUrl} to be ready`,
        () => answers(`${prometheusUrl}/-/ready`, (status) => status === 200),
        options.signal,
      ),
    ]);
    log(`nginx ${url} (pid ${nginx.pid}), prometheus ${prometheusUrl} (pid ${prometheus.pid})`);
    log('up');

    const processes: ProcessInfo[] = [
      ...services.map((s) => ({ name: s.name, pid: s.pid, logFile: s.logFile })),
      ...daemons.map((d) => ({ name: d.name, pid: d.pid, logFile: d.logFile })),
    ];
    const firstExit = Promise.race([
      ...services.map((s) =>
        s.exited.then((): ProcessInfo => ({ name: s.name, pid: s.pid, logFile: s.logFile })),
      ),
      ...daemons.map((d) =>
        d.exited.then((): ProcessInfo => ({ name: d.name, pid: d.pid, logFile: d.logFile })),
      ),
    ]);
    return {
      dir,
      url,
      gatewayUrls,
      fetcherUrls,
      prometheusUrl,
      redisUrl,
      databaseUrl,
      s3,
      processes,
      firstExit,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE =
  'usage: local-topology.ts up [--config FILE] [--admin-token TOKEN] [--port N] ' +
  '[--prometheus-port N] [--gateways N] [--fetchers N] [--keep]';

function parseArgs(argv: string[]): TopologyOptions {
  if (argv[0] !== 'up') {
    throw new Error(USAGE);
  }
  const options: TopologyOptions = {};
  const int = (flag: string, value: string, min: number, max: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`${flag}: expected an integer from ${min} to ${max}, got ${value}`);
    }
    return n;
  };
  for (let i = 1; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) {
        throw new Error(`${flag} needs a value\n${USAGE}`);
      }
      return v;
    };
    switch (flag) {
      case '--config':
        options.configFile = value();
        break;
      case '--admin-token':
        options.adminToken = value();
        break;
      case '--port':
        options.port = int(flag, value(), 1, 65535);
        break;
      case '--prometheus-port':
        options.prometheusPort = int(flag, value(), 1, 65535);
        break;
      case '--gateways':
        options.gateways = int(flag, value(), 1, 16);
        break;
      case '--fetchers':
        options.fetchers = int(flag, value(), 1, 16);
        break;
      case '--keep':
        options.keep = true;
        break;
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  return options;
}

async function cli(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const say = (text: string): void => void process.stdout.write(`local-topology: ${text}\n`);
  const state: { topology?: Topology; exitCode?: number } = {};
  const starting = new AbortController();
  const shutdown = (code: number): void => {
    if (state.exitCode !== undefined) {
      return;
    }
    state.exitCode = code;
    const { topology } = state;
    if (!topology) {
      say('stopping what has started');
      starting.abort();
      return;
    }
    say('stopping');
    void topology.stop().finally(() => process.exit(code));
  };
  const onSigint = (): void => shutdown(130);
  const onSigterm = (): void => shutdown(143);
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  let topology: Topology;
  try {
    topology = await startTopology({ ...options, log: say, signal: starting.signal });
  } catch (err) {
    if (state.exitCode !== undefined) {
      // A signal during start-up: whatever failed after it is a consequence, not news.
      process.exit(state.exitCode);
    }
    throw err;
  }
  state.topology = topology;
  if (state.exitCode !== undefined) {
    await topology.stop();
    process.exit(state.exitCode);
  }
  // local-services stops Redis and Postgres on a signal by itself, at once; the apps would then
  // wait for them until their 10 s shutdown deadline. topology.stop() stops the apps first and
  // then those services, so it alone handles the signals from here on.
  for (const [sig, mine] of [
    ['SIGINT', onSigint],
    ['SIGTERM', onSigterm],
  ] as const) {
    for (const listener of process.listeners(sig)) {
      if (listener !== mine) {
        process.removeListener(sig, listener);
      }
    }
  }
  const t = topology;
  process.stdout.write(
    [
      '',
      `  cache (nginx)  ${t.url}`,
      `  gateways       ${t.gatewayUrls.join('  ')}`,
      `  fetchers       ${t.fetcherUrls.join('  ')}`,
      `  prometheus     ${t.prometheusUrl}   (targets: ${t.prometheusUrl}/targets, alerts: ${t.prometheusUrl}/alerts)`,
      `  redis          ${t.redisUrl}`,
      `  postgres       ${t.databaseUrl}`,
      `  s3             ${t.s3.endpoint} bucket ${t.s3.bucket}`,
      `  logs           ${path.join(t.dir, 'logs')}${options.keep ? ' (kept after stop)' : ''}`,
      '',
      `try: curl -s ${t.url}/ ; curl -s ${t.prometheusUrl}/api/v1/query --data-urlencode 'query=up'`,
      'Ctrl-C (SIGINT) or SIGTERM stops everything.',
      '',
    ].join('\n'),
  );
  const gone = await t.firstExit;
  if (state.exitCode !== undefined) {
    return;
  }
  state.exitCode = 1;
  process.stderr.write(
    `local-topology: ${gone.name} (pid ${gone.pid}) exited unexpectedly${tailOf(gone.logFile)}\n`,
  );
  await t.stop();
  process.exit(1);
}

if (require.main === module) {
  cli(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`local-topology: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
