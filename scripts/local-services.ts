/**
 * Local Redis, Postgres and S3 (s3rver) for `npm start` (scripts/start.sh) and the e2e tests
 * (test/global-setup.ts): one implementation of "start it, wait until it answers, stop exactly
 * it", so the Postgres-as-root rules live in one place. Needs no build of the apps.
 *
 * Library:  startRedis / startRedisSentinel / startPostgres / startS3Server / freePort / stopAll
 *           (see each function).
 * CLI:      node -r ts-node/register/transpile-only scripts/local-services.ts up \
 *             [--redis DIR [--redis-port N]] [--postgres DIR [--postgres-port N] [--database NAME]] \
 *             [--s3 DIR [--s3-port N] [--bucket NAME]] [--persist] [--write-env FILE] [--exit-with PID]
 *           Starts what was asked, writes REDIS_URL / DATABASE_URL / S3_* to FILE (KEY='value'
 *           lines, written once everything answers), then stays in the foreground; SIGINT/SIGTERM
 *           stops everything it started. Exits non-zero if a service dies on its own.
 *           --exit-with PID: also stop everything when process PID is gone (scripts/start.sh
 *           passes its own PID, so a `kill -9` of the script does not leave servers behind).
 *
 * Every service runs in its own process group (spawn `detached`), so a Ctrl-C meant for the
 * parent does not reach it half-way through a shutdown, and stop() signals exactly that group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client } from 'pg';
import { waitFor } from '../test/helpers/wait-for';

/**
 * Node flags both apps run with (on the command line: NODE_OPTIONS refuses the second). A small
 * young generation keeps RSS flat while many streams pass through (a gateway relaying 8 cold
 * 1 GiB downloads peaked near 150 MiB instead of 175). A configured initial old generation stops
 * V8 from running a major GC every ~15 MiB streamed (a 64 MiB cold miss ran 5 to 8 of them in
 * each app and took twice as long; docs/PERFORMANCE.md). The same list is in package.json's start
 * scripts, scripts/start.sh, the Dockerfile and docker-compose.yml.
 */
export const APP_NODE_FLAGS = ['--max-semi-space-size=4', '--initial-old-space-size=128'];

export interface ServiceHandle {
  readonly name: string;
  /** the process to signal: redis-server, the postmaster, the s3-server node process */
  readonly pid: number;
  readonly port: number;
  readonly logFile: string;
  /** settles when the process is gone, whoever stopped it */
  readonly exited: Promise<void>;
  /** graceful stop, escalating to SIGKILL after a deadline; safe to call twice */
  stop(): Promise<void>;
}

export interface RedisHandle extends ServiceHandle {
  readonly url: string;
}

export interface PostgresHandle extends ServiceHandle {
  readonly url: string;
  readonly database: string;
  readonly user: string;
  /** the directory Postgres really uses (differs from dataDir when it had to be relocated) */
  readonly dataDir: string;
  /** unix socket directory, or null when the path would be too long and only TCP is used */
  readonly socketDir: string | null;
}

export interface S3Handle extends ServiceHandle {
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: 'S3RVER';
  readonly secretAccessKey: 'S3RVER';
}

export interface StartRedisOptions {
  dataDir: string;
  /** default: a free port; an explicit port that is taken fails with a clear message */
  port?: number;
  /** appendonly persistence (npm start); default false: nothing written to disk (tests) */
  persist?: boolean;
  startTimeoutMs?: number;
  /** added to the "port in use" error, e.g. how to use the server that is already there */
  portInUseHint?: string;
  /** start as a replica of this server (`replicaof`) */
  replicaOf?: { host: string; port: number };
  /** `requirepass`, and `masterauth` with the same password, so any node can be a replica */
  password?: string;
}

export interface StartPostgresOptions {
  dataDir: string;
  database: string;
  port?: number;
  /** superuser created by initdb (trust auth); default `artifactcache` */
  user?: string;
  /** default false: fsync and friends off, for throwaway test clusters */
  persist?: boolean;
  /** default: /usr/lib/postgresql/<version of an existing cluster, else highest>/bin */
  binDir?: string;
  startTimeoutMs?: number;
  portInUseHint?: string;
}

export interface StartS3Options {
  dataDir: string;
  bucket: string;
  /** default: any free port, chosen by the server itself */
  port?: number;
  startTimeoutMs?: number;
}

const HOST = '127.0.0.1';
const STOP_TIMEOUT_MS = 15_000;
const isRoot = process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------
// process bookkeeping

interface Tracked {
  readonly name: string;
  /** last resort from an `exit` handler: synchronous, no waiting */
  killNow(): void;
  stop(): Promise<void>;
}

const live = new Set<Tracked>();
let hooksInstalled = false;
let shuttingDown = false;

function track(entry: Tracked): void {
  installExitHooks();
  live.add(entry);
}

/** Stops every service this process started and has not stopped yet. */
export async function stopAll(): Promise<void> {
  await Promise.allSettled([...live].map((entry) => entry.stop()));
}

function killAllNow(): void {
  for (const entry of live) {
    try {
      entry.killNow();
    } catch {
      // already gone; nothing else can be done from an exit handler
    }
  }
}

function installExitHooks(): void {
  if (hooksInstalled) {
    return;
  }
  hooksInstalled = true;
  // Last resort if the owner exits without stopping us (uncaught error, process.exit).
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      if (shuttingDown) {
        // Second Ctrl-C: stop waiting.
        killAllNow();
        process.exit(130);
      }
      shuttingDown = true;
      void stopAll().finally(() => {
        process.removeListener(sig, onSignal);
        // Adding a listener disabled Node's default "die on signal"; restore it unless the
        // host process (jest, an app) has its own handler that decides.
        if (process.listenerCount(sig) === 0) {
          process.kill(process.pid, sig);
        }
      });
    };
    process.on(sig, onSignal);
  }
}

/** True while `pid` is a live process (a zombie counts as gone: PID 1 in a container may not reap). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw err;
    }
  }
}

function childExited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Settles when `pid` is gone; polls /proc because the process is not our child. */
function pidExited(pid: number): { exited: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const exited = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (cancelled || !isAlive(pid)) {
        clearInterval(timer);
        resolve();
      }
    }, 500);
    timer.unref();
  });
  return {
    exited,
    cancel: () => {
      cancelled = true;
    },
  };
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

/** SIGTERM to the child's process group, SIGKILL if it is still there after the deadline. */
async function terminateGroup(pid: number, exited: Promise<void>): Promise<void> {
  signal(pid, 'SIGTERM', true);
  if (await settlesWithin(exited, STOP_TIMEOUT_MS)) {
    return;
  }
  signal(pid, 'SIGKILL', true);
  await settlesWithin(exited, 5_000);
}

function tailOf(file: string, lines = 25): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    const tail = text.split('\n').slice(-lines).join('\n');
    return tail ? `\n--- last lines of ${file} ---\n${tail}` : `\n(${file} is empty)`;
  } catch {
    return `\n(no log at ${file})`;
  }
}

interface RunResult {
  code: number | null;
  output: string;
}

/** Runs a short-lived command in its own session (so a terminal Ctrl-C does not hit it). */
function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: '/', detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => signal(child.pid ?? 0, 'SIGKILL', true), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: output.trim() });
    });
  });
}

function spawnService(
  cmd: string,
  args: string[],
  logFile: string,
  stdout: 'log' | 'pipe',
): ChildProcess {
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, {
      cwd: '/',
      detached: true,
      stdio: ['ignore', stdout === 'log' ? fd : 'pipe', fd],
    });
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

/** Resolves once `child` has spawned (or rejects with the spawn error: ENOENT and the like). */
function spawned(child: ChildProcess, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', (err) => reject(new Error(`cannot start ${what}: ${err.message}`)));
  });
}

// ---------------------------------------------------------------------------------------------
// ports

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function assertPortFree(port: number, what: string, hint?: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `${what}: port ${port} on ${HOST} is already in use by another process` +
                (hint ? `; ${hint}` : ''),
            )
          : err,
      );
    });
    server.listen(port, HOST, () => server.close(() => resolve()));
  });
}

async function pickPort(port: number | undefined, what: string, hint?: string): Promise<number> {
  if (port === undefined || port === 0) {
    return freePort();
  }
  await assertPortFree(port, what, hint);
  return port;
}

/**
 * Waits until `probe` says yes, failing early (with the log tail) if the process exits first
 * and, at the deadline, with what the probe last saw.
 */
async function waitUntilReady(
  what: string,
  probe: () => Promise<boolean>,
  hasExited: () => boolean,
  timeoutMs: number,
  logFile: string,
): Promise<void> {
  let outcome: 'ready' | 'exited';
  try {
    outcome = await waitFor(
      async () => (hasExited() ? 'exited' : (await probe()) ? 'ready' : false),
      { description: what, timeoutMs, intervalMs: 50 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}${tailOf(logFile)}`);
  }
  if (outcome === 'exited') {
    throw new Error(`${what}: the process exited during start-up${tailOf(logFile)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Redis

/**
 * One PING over a raw socket (after AUTH when `password` is given): true on +PONG (a "-LOADING"
 * reply while an AOF loads is a no).
 */
function redisPing(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ host: HOST, port });
    const commands = password === undefined ? ['PING'] : [`AUTH ${password}`, 'PING'];
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('connect', () => socket.write(commands.map((c) => `${c}\r\n`).join('')));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      const lines = reply.split('\r\n');
      if (lines.length > commands.length) {
        done(lines[commands.length - 1].startsWith('+PONG'));
      }
    });
    socket.on('error', () => done(false));
  });
}

/**
 * Starts `redis-server` on 127.0.0.1 with its files in `dataDir` (created if missing) and waits
 * until it answers PING. Log: `<dataDir>/redis.log`.
 */
export async function startRedis(options: StartRedisOptions): Promise<RedisHandle> {
  const dataDir = path.resolve(options.dataDir);
  await fsp.mkdir(dataDir, { recursive: true });
  const port = await pickPort(options.port, 'redis', options.portInUseHint);
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    dataDir,
    '--save',
    '',
    '--appendonly',
    options.persist ? 'yes' : 'no',
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...(options.replicaOf
      ? ['--replicaof', options.replicaOf.host, String(options.replicaOf.port)]
      : []),
    ...(options.password === undefined
      ? []
      : ['--requirepass', options.password, '--masterauth', options.password]),
  ];
  const handle = await runRedisBinary({
    name: 'redis',
    binary: 'redis-server',
    installHint: 'is the redis-server package installed? bash scripts/ensure-deps.sh',
    args,
    port,
    logFile: path.join(dataDir, 'redis.log'),
    startTimeoutMs: options.startTimeoutMs,
    password: options.password,
  });
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return { ...handle, url: `redis://${auth}${HOST}:${port}` };
}

export interface StartRedisSentinelOptions {
  /** its config file (Sentinel rewrites it as it learns the topology) and log live here */
  dataDir: string;
  /** the master group to watch: its name, the primary's address, the quorum to call it down */
  monitor: { name: string; host: string; port: number; quorum: number };
  /** `down-after-milliseconds`: silence before the primary counts as down (Sentinel: 30000) */
  downAfterMs?: number;
  /** `failover-timeout` (Sentinel: 180000) */
  failoverTimeoutMs?: number;
  /** the primary's and replicas' password (`auth-pass`) */
  authPass?: string;
  /** this sentinel's own `requirepass`; sentinels of a group share it to talk to each other */
  password?: string;
  port?: number;
  startTimeoutMs?: number;
}

/**
 * Starts `redis-sentinel` on 127.0.0.1 watching one master group and waits until it answers
 * PING. Sentinels find each other and the replicas through the primary, so start the primary
 * first. Log: `<dataDir>/sentinel.log`.
 */
export async function startRedisSentinel(
  options: StartRedisSentinelOptions,
): Promise<ServiceHandle> {
  const dataDir = path.resolve(options.dataDir);
  await fsp.mkdir(dataDir, { recursive: true });
  const port = await pickPort(options.port, 'redis-sentinel');
  const { name, host, port: primaryPort, quorum } = options.monitor;
  const configFile = path.join(dataDir, 'sentinel.conf');
  await fsp.writeFile(
    configFile,
    [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${dataDir}`,
      'daemonize no',
      'logfile ""',
      `sentinel monitor ${name} ${host} ${primaryPort} ${quorum}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 30_000}`,
      `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 180_000}`,
      `sentinel parallel-syncs ${name} 1`,
      ...(options.authPass === undefined ? [] : [`sentinel auth-pass ${name} ${options.authPass}`]),
      ...(options.password === undefined ? [] : [`requirepass ${options.password}`]),
      '',
    ].join('\n'),
  );
  return runRedisBinary({
    name: 'redis-sentinel',
    binary: 'redis-sentinel',
    installHint: 'is the redis-sentinel package installed? bash scripts/ensure-deps.sh --for test',
    args: [configFile],
    port,
    logFile: path.join(dataDir, 'sentinel.log'),
    startTimeoutMs: options.startTimeoutMs,
    password: options.password,
  });
}

/** Spawns a Redis binary in its own process group, tracks it and waits until it answers PING. */
async function runRedisBinary(spec: {
  name: string;
  binary: string;
  installHint: string;
  args: string[];
  port: number;
  logFile: string;
  startTimeoutMs?: number;
  password?: string;
}): Promise<ServiceHandle> {
  const { name, port, logFile } = spec;
  const child = spawnService(spec.binary, spec.args, logFile, 'log');
  const pid = await spawned(child, `${spec.binary} (${spec.installHint})`);
  const exited = childExited(child);
  let stopping: Promise<void> | undefined;
  const entry: Tracked = {
    name,
    killNow: () => signal(pid, 'SIGTERM', true),
    stop: () => {
      stopping ??= terminateGroup(pid, exited).finally(() => live.delete(entry));
      return stopping;
    },
  };
  track(entry);
  try {
    await waitUntilReady(
      `${name} on ${HOST}:${port} to answer PING`,
      () => redisPing(port, spec.password),
      () => child.exitCode !== null || child.signalCode !== null,
      spec.startTimeoutMs ?? 20_000,
      logFile,
    );
  } catch (err) {
    await entry.stop();
    throw err;
  }
  return { name, pid, port, logFile, exited, stop: entry.stop };
}

// ---------------------------------------------------------------------------------------------
// Postgres

const PG_ROOT = '/usr/lib/postgresql';

function versionsInstalled(): string[] {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(PG_ROOT);
  } catch {
    return [];
  }
  return entries
    .filter((v) => fs.existsSync(path.join(PG_ROOT, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a) || b.localeCompare(a));
}

/** The bin dir matching an existing cluster's PG_VERSION when installed, else the highest. */
export function findPostgresBinDir(dataDir?: string): string {
  const versions = versionsInstalled();
  if (versions.length === 0) {
    throw new Error(
      `PostgreSQL server binaries not found (${PG_ROOT}/<version>/bin/pg_ctl); ` +
        'install them with: bash scripts/ensure-deps.sh --for start',
    );
  }
  let wanted: string | undefined;
  if (dataDir) {
    try {
      wanted = fs.readFileSync(path.join(dataDir, 'PG_VERSION'), 'utf8').trim();
    } catch {
      wanted = undefined;
    }
  }
  if (wanted && !versions.includes(wanted)) {
    throw new Error(
      `${dataDir} holds a PostgreSQL ${wanted} cluster but only ${versions.join(', ')} is ` +
        `installed; install postgresql-${wanted} or remove the directory`,
    );
  }
  return path.join(PG_ROOT, wanted ?? versions[0], 'bin');
}

interface PgUser {
  uid: number;
  gid: number;
}

function postgresUser(): PgUser {
  // A system user made by the postgresql-common package, so it is in /etc/passwd.
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) {
    throw new Error(
      'running as root, Postgres must run as the unprivileged `postgres` user, which does not ' +
        'exist; install the postgresql package (bash scripts/ensure-deps.sh) or run as non-root',
    );
  }
  const fields = line.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** Postgres refuses to run as root (MACHINE-NOTES): as root, run its tools as `postgres`. */
function pgTool(binDir: string, tool: string, args: string[]): [string, string[]] {
  const bin = path.join(binDir, tool);
  return isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

async function postgresCanEnter(dir: string): Promise<boolean> {
  const result = await run('runuser', ['-u', 'postgres', '--', 'test', '-x', dir]);
  return result.code === 0;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function chownTree(dir: string, user: PgUser): Promise<void> {
  const result = await run('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  if (result.code !== 0) {
    throw new Error(`chown -R postgres ${dir} failed: ${result.output}`);
  }
}

/**
 * As root, the `postgres` user must be able to reach the data directory. A clone under /root
 * (mode 0700) is not reachable; rather than loosen /root, keep the cluster under
 * /var/lib/artifactcache and leave a symlink where it was asked for.
 */
async function resolveDataDir(asked: string): Promise<string> {
  if (!isRoot) {
    return asked;
  }
  await fsp.mkdir(path.dirname(asked), { recursive: true });
  const stat = await fsp.lstat(asked).catch(() => null);
  const current = stat ? await fsp.realpath(asked) : asked;
  if (await postgresCanEnter(path.dirname(current))) {
    return current;
  }
  if (stat && !stat.isSymbolicLink()) {
    const entries = await fsp.readdir(asked);
    if (entries.length > 0) {
      throw new Error(
        `the postgres user cannot enter ${path.dirname(asked)} (a parent directory is not ` +
          `traversable), and ${asked} already holds data; make the parents traversable ` +
          `(chmod o+x) or move the directory`,
      );
    }
    await fsp.rmdir(asked);
  }
  const slug = asked.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_');
  const relocated = path.join('/var/lib/artifactcache', slug);
  await fsp.mkdir(path.dirname(relocated), { recursive: true, mode: 0o755 });
  if (stat?.isSymbolicLink()) {
    await fsp.unlink(asked);
  }
  await fsp.symlink(relocated, asked);
  process.stderr.write(
    `local-services: the postgres user cannot reach ${path.dirname(asked)}; ` +
      `keeping the cluster in ${relocated} (symlinked from ${asked})\n`,
  );
  return relocated;
}

async function prepareDataDir(dataDir: string, pgUser: PgUser | null): Promise<'fresh' | 'reuse'> {
  const entries = await fsp.readdir(dataDir).catch(() => null);
  const reuse = entries !== null && entries.includes('PG_VERSION');
  if (entries !== null && entries.length > 0 && !reuse) {
    throw new Error(`${dataDir} is neither empty nor a Postgres data directory`);
  }
  await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const owner = (await fsp.stat(dataDir)).uid;
  if (pgUser) {
    if (owner !== pgUser.uid) {
      await chownTree(dataDir, pgUser);
    }
  } else if (owner !== process.getuid?.()) {
    throw new Error(
      `${dataDir} belongs to uid ${owner} (made by a run as another user, e.g. root → postgres); ` +
        'run as that user, or remove the directory to start over',
    );
  }
  return reuse ? 'reuse' : 'fresh';
}

/** Creates `path` (file or dir) if missing and, as root, hands it to the postgres user. */
async function ownedPath(p: string, kind: 'file' | 'dir', pgUser: PgUser | null): Promise<void> {
  if (kind === 'dir') {
    await fsp.mkdir(p, { recursive: true, mode: 0o700 });
  } else {
    await fsp.appendFile(p, '');
  }
  if (pgUser) {
    await fsp.chown(p, pgUser.uid, pgUser.gid);
  }
}

/**
 * Starts a Postgres cluster in `dataDir` (initdb with trust auth and superuser `user` when the
 * directory is empty or missing; an existing cluster is reused), listening on 127.0.0.1 only,
 * then creates `database` if missing. Log: `<dataDir>.log` beside the data directory; unix socket
 * in `<dataDir>-socket` beside it. As root, everything runs as the `postgres` user.
 */
export async function startPostgres(options: StartPostgresOptions): Promise<PostgresHandle> {
  const user = options.user ?? 'artifactcache';
  const pgUser = isRoot ? postgresUser() : null;
  const dataDir = await resolveDataDir(path.resolve(options.dataDir));
  const state = await prepareDataDir(dataDir, pgUser);
  const binDir = options.binDir ?? findPostgresBinDir(dataDir);
  const port = await pickPort(options.port, 'postgres', options.portInUseHint);
  const logFile = `${dataDir}.log`;
  await ownedPath(logFile, 'file', pgUser);

  // sun_path holds 107 bytes; a deep checkout would make postgres refuse to start, so fall back
  // to TCP only (nothing here needs the socket; it is there for `psql -h DIR` by hand).
  let socketDir: string | null = `${dataDir}-socket`;
  if (`${socketDir}/.s.PGSQL.${port}`.length > 100) {
    socketDir = null;
  } else {
    await ownedPath(socketDir, 'dir', pgUser);
  }

  if (state === 'fresh') {
    const [cmd, args] = pgTool(binDir, 'initdb', [
      '-D',
      dataDir,
      '-A',
      'trust',
      '-U',
      user,
      '-E',
      'UTF8',
      '--no-locale',
      ...(options.persist ? [] : ['--no-sync']),
    ]);
    const result = await run(cmd, args);
    if (result.code !== 0) {
      throw new Error(`initdb -D ${dataDir} failed (exit ${result.code}):\n${result.output}`);
    }
  }

  const serverOptions = [
    `-p ${port}`,
    `-k ${shellQuote(socketDir ?? '')}`,
    `-c listen_addresses=${HOST}`,
    // e2e runs open a pool per Nest app per spec; the default 100 is too tight for 2 workers.
    '-c max_connections=200',
    // A throwaway test cluster does not need to survive a power cut.
    ...(options.persist
      ? []
      : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
  ].join(' ');
  const timeoutS = Math.ceil((options.startTimeoutMs ?? 60_000) / 1000);
  const [startCmd, startArgs] = pgTool(binDir, 'pg_ctl', [
    '-D',
    dataDir,
    '-o',
    serverOptions,
    '-l',
    logFile,
    '-w',
    '-t',
    String(timeoutS),
    'start',
  ]);
  const started = await run(startCmd, startArgs, (timeoutS + 10) * 1000);
  if (started.code !== 0) {
    throw new Error(
      `pg_ctl start -D ${dataDir} on port ${port} failed (exit ${started.code}): ` +
        `${started.output}${tailOf(logFile)}`,
    );
  }
  const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const watch = pidExited(pid);

  let stopping: Promise<void> | undefined;
  const stopPostgres = async (): Promise<void> => {
    if (isAlive(pid)) {
      const [cmd, args] = pgTool(binDir, 'pg_ctl', [
        '-D',
        dataDir,
        '-m',
        'fast',
        '-w',
        '-t',
        String(STOP_TIMEOUT_MS / 1000),
        'stop',
      ]);
      await run(cmd, args, STOP_TIMEOUT_MS + 10_000).catch(() => undefined);
    }
    if (isAlive(pid)) {
      // "immediate" shutdown, then the hard way.
      signal(pid, 'SIGQUIT', false);
      await waitFor(() => !isAlive(pid), {
        description: `postgres ${pid} to exit after SIGQUIT`,
        timeoutMs: 5_000,
      }).catch(() => signal(pid, 'SIGKILL', false));
    }
    watch.cancel();
  };
  const entry: Tracked = {
    name: 'postgres',
    // SIGINT to the postmaster is the "fast" shutdown mode.
    killNow: () => signal(pid, 'SIGINT', false),
    stop: () => {
      stopping ??= stopPostgres().finally(() => live.delete(entry));
      return stopping;
    },
  };
  track(entry);

  try {
    await ensureDatabase(port, user, options.database);
  } catch (err) {
    await entry.stop();
    throw new Error(`postgres: creating database ${options.database}: ${(err as Error).message}`);
  }
  return {
    name: 'postgres',
    url: `postgres://${user}@${HOST}:${port}/${encodeURIComponent(options.database)}`,
    database: options.database,
    user,
    pid,
    port,
    dataDir,
    socketDir,
    logFile,
    exited: watch.exited,
    stop: entry.stop,
  };
}

async function ensureDatabase(port: number, user: string, database: string): Promise<void> {
  const client = new Client({ host: HOST, port, user, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
    }
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// S3

/**
 * Starts s3rver (scripts/s3-server.js) in a child node process with `bucket` created, objects
 * under `dataDir`. Credentials S3RVER/S3RVER; clients need `forcePathStyle: true`.
 * Log: `<dataDir>/s3-server.log`.
 */
export async function startS3Server(options: StartS3Options): Promise<S3Handle> {
  const dataDir = path.resolve(options.dataDir);
  await fsp.mkdir(dataDir, { recursive: true });
  const logFile = path.join(path.dirname(dataDir), `${path.basename(dataDir)}-s3-server.log`);
  const script = path.join(__dirname, 's3-server.js');
  const askedPort = options.port ? await pickPort(options.port, 's3') : 0;
  const child = spawnService(
    process.execPath,
    [script, '--dir', dataDir, '--bucket', options.bucket, '--port', String(askedPort)],
    logFile,
    'pipe',
  );
  const pid = await spawned(child, 's3-server.js');
  const exited = childExited(child);
  let stopping: Promise<void> | undefined;
  const entry: Tracked = {
    name: 's3',
    killNow: () => signal(pid, 'SIGTERM', true),
    stop: () => {
      stopping ??= terminateGroup(pid, exited).finally(() => live.delete(entry));
      return stopping;
    },
  };
  track(entry);

  let port = 0;
  let pending = '';
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  child.stdout?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    if (port) {
      return;
    }
    pending += chunk.toString();
    const line = pending.split('\n').find((l) => l.startsWith('{'));
    if (line) {
      port = (JSON.parse(line) as { port: number }).port;
    }
  });
  child.stdout?.on('end', () => log.end());
  try {
    await waitUntilReady(
      `s3-server.js to report its port`,
      () => Promise.resolve(port > 0),
      () => child.exitCode !== null || child.signalCode !== null,
      options.startTimeoutMs ?? 20_000,
      logFile,
    );
  } catch (err) {
    await entry.stop();
    throw err;
  }
  return {
    name: 's3',
    endpoint: `http://${HOST}:${port}`,
    bucket: options.bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    pid,
    port,
    logFile,
    exited,
    stop: entry.stop,
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

interface CliArgs {
  redis?: string;
  redisPort?: number;
  postgres?: string;
  postgresPort?: number;
  database: string;
  s3?: string;
  s3Port?: number;
  bucket: string;
  persist: boolean;
  writeEnv?: string;
  exitWith?: number;
}

const USAGE =
  'usage: local-services.ts up [--redis DIR [--redis-port N]] ' +
  '[--postgres DIR [--postgres-port N] [--database NAME]] [--s3 DIR [--s3-port N] [--bucket NAME]] ' +
  '[--persist] [--write-env FILE] [--exit-with PID]';

function parseArgs(argv: string[]): CliArgs {
  if (argv[0] !== 'up') {
    throw new Error(USAGE);
  }
  const args: CliArgs = { database: 'artifactcache', bucket: 'artifactcache', persist: false };
  const int = (flag: string, value: string, max: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new Error(`${flag}: expected an integer from 0 to ${max}, got ${value}`);
    }
    return n;
  };
  const port = (flag: string, value: string): number => int(flag, value, 65535);
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
      case '--redis':
        args.redis = value();
        break;
      case '--redis-port':
        args.redisPort = port(flag, value());
        break;
      case '--postgres':
        args.postgres = value();
        break;
      case '--postgres-port':
        args.postgresPort = port(flag, value());
        break;
      case '--database':
        args.database = value();
        break;
      case '--s3':
        args.s3 = value();
        break;
      case '--s3-port':
        args.s3Port = port(flag, value());
        break;
      case '--bucket':
        args.bucket = value();
        break;
      case '--persist':
        args.persist = true;
        break;
      case '--write-env':
        args.writeEnv = value();
        break;
      case '--exit-with':
        args.exitWith = int(flag, value(), 2 ** 22);
        break;
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  return args;
}

async function cli(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const began = Date.now();
  const say = (text: string): void => void process.stdout.write(`local-services: ${text}\n`);
  const env: Record<string, string> = {};
  const handles: ServiceHandle[] = [];
  installExitHooks();
  try {
    const jobs: Promise<void>[] = [];
    if (args.redis) {
      const dataDir = args.redis;
      jobs.push(
        startRedis({
          dataDir,
          port: args.redisPort,
          persist: args.persist,
          portInUseHint:
            'set REDIS_URL=redis://127.0.0.1:PORT to use the Redis already running there, or stop it',
        }).then((h) => {
          handles.push(h);
          env.REDIS_URL = h.url;
          say(`redis ready at ${h.url} (pid ${h.pid}, data ${path.resolve(dataDir)})`);
        }),
      );
    }
    if (args.postgres) {
      jobs.push(
        startPostgres({
          dataDir: args.postgres,
          port: args.postgresPort,
          database: args.database,
          persist: args.persist,
          portInUseHint:
            'set DATABASE_URL=postgres://USER@127.0.0.1:PORT/DB to use the server already ' +
            'running there, or stop it',
        }).then((h) => {
          handles.push(h);
          env.DATABASE_URL = h.url;
          say(`postgres ready at ${h.url} (pid ${h.pid}, data ${h.dataDir})`);
        }),
      );
    }
    if (args.s3) {
      jobs.push(
        startS3Server({ dataDir: args.s3, port: args.s3Port, bucket: args.bucket }).then((h) => {
          handles.push(h);
          Object.assign(env, {
            S3_ENDPOINT: h.endpoint,
            S3_BUCKET: h.bucket,
            S3_ACCESS_KEY_ID: h.accessKeyId,
            S3_SECRET_ACCESS_KEY: h.secretAccessKey,
            S3_FORCE_PATH_STYLE: 'true',
          });
          say(`s3 ready at ${h.endpoint} bucket ${h.bucket} (pid ${h.pid})`);
        }),
      );
    }
    const results = await Promise.allSettled(jobs);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) {
      throw new Error(failures.map((f) => (f.reason as Error).message).join('\n'));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  if (args.writeEnv) {
    const text = Object.entries(env)
      .map(([key, value]) => `${key}=${shellQuote(value)}\n`)
      .join('');
    await fsp.mkdir(path.dirname(path.resolve(args.writeEnv)), { recursive: true });
    const tmp = `${args.writeEnv}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, text);
    await fsp.rename(tmp, args.writeEnv);
  }
  say(`all up in ${((Date.now() - began) / 1000).toFixed(1)} s; SIGINT/SIGTERM stops them`);

  // Also keeps the process alive: the postmaster is not our child and holds no handle.
  let watchOwner: NodeJS.Timeout | undefined;
  const ownerGone = new Promise<'owner'>((resolve) => {
    watchOwner = setInterval(() => {
      if (args.exitWith !== undefined && !isAlive(args.exitWith)) {
        resolve('owner');
      }
    }, 1_000);
  });
  const first = await Promise.race([ownerGone, ...handles.map((h) => h.exited.then(() => h))]);
  clearInterval(watchOwner);
  if (shuttingDown) {
    return;
  }
  shuttingDown = true;
  if (first === 'owner') {
    say(`process ${args.exitWith} is gone; stopping`);
    await stopAll();
    return;
  }
  process.stderr.write(
    `local-services: ${first.name} (pid ${first.pid}) exited unexpectedly${tailOf(first.logFile)}\n`,
  );
  await stopAll();
  process.exit(1);
}

if (require.main === module) {
  cli(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`local-services: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
