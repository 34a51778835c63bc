/**
 * Every process `npm start`, the tests and the benches start, handled one way: in a process group
 * of its own (a stop, a SIGSTOP, a SIGKILL reaches all its children) unless shareProcessGroup()
 * keeps it in ours, its output in a log file whose tail explains a failure, stopped with its stop
 * signal and then SIGKILL, and never left behind: a SIGINT or SIGTERM to us stops them all (the
 * last started first), our exit kills them, and our SIGKILL sends each its stop signal (util-linux
 * `setpriv --pdeathsig`, which also runs it as another user).
 */
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './wait-for';

export const HOST = '127.0.0.1';

export interface ProcessOptions {
  /** stdout and stderr are appended here; without one they go to ours */
  logFile?: string;
  /** run as this user (as root): Postgres refuses to run as root */
  user?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** what the program reads as "shut down now" (default SIGTERM) */
  stopSignal?: NodeJS.Signals;
  /** how long it may take to stop before SIGKILL (default 15 s) */
  stopTimeoutMs?: number;
}

export interface Managed {
  readonly name: string;
  readonly pid: number;
  /** settles when it has exited, for whatever reason */
  readonly exited: Promise<void>;
  hasExited(): boolean;
  /** to its whole group: SIGSTOP and SIGCONT make a partition, SIGKILL a crash */
  signal(sig: NodeJS.Signals): void;
  /** the stop signal, then SIGKILL after the deadline; settles once it is gone */
  stop(): Promise<void>;
  /** the last lines of its log */
  tail(lines?: number): string;
}

const live = new Set<Managed>();
let onShutdown: (() => Promise<void>) | undefined;
let signalled = false;
let ownGroups = true;

/**
 * From now on started processes stay in our process group, so whoever started us (a terminal, a
 * supervisor, a bench) signals and measures the whole cache as one program: `npm start`.
 */
export function shareProcessGroup(): void {
  ownGroups = false;
}

/** Whether a SIGINT or SIGTERM asked this process to stop. */
export function shuttingDown(): boolean {
  return signalled;
}

/** What a SIGINT or SIGTERM does before we die of it (default: stopAll). */
export function onShutdownSignal(stop: () => Promise<void>): void {
  onShutdown = stop;
}

/** Stops every process still running, the last started first. */
export async function stopAll(): Promise<void> {
  for (const managed of [...live].reverse()) {
    await managed.stop();
  }
}

export async function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: ProcessOptions,
): Promise<Managed> {
  hookOurExit();
  const stopSignal = options.stopSignal ?? 'SIGTERM';
  const log = options.logFile === undefined ? 'inherit' : openSync(options.logFile, 'a');
  const asUser = options.user
    ? ['--reuid', options.user, '--regid', options.user, '--init-groups']
    : [];
  const group = ownGroups;
  const child = spawn('setpriv', [...asUser, '--pdeathsig', stopSignal, '--', command, ...args], {
    cwd: options.cwd ?? '/',
    env: options.env ?? process.env,
    detached: group,
    stdio: ['ignore', log, log],
  });
  if (typeof log === 'number') {
    closeSync(log);
  }
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', (error) => reject(new Error(`cannot start ${name}: ${error.message}`)));
  });
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const exited = new Promise<void>((resolve) =>
    hasExited() ? resolve() : child.once('exit', () => resolve()),
  );
  let stopping: Promise<void> | undefined;
  const managed: Managed = {
    name,
    pid,
    exited,
    hasExited,
    signal: (sig) => signalOf(group ? -pid : pid, sig),
    stop: () =>
      (stopping ??= (async () => {
        if (!hasExited()) {
          managed.signal(stopSignal);
          // A stopped process (a fault test's SIGSTOP) acts on its stop signal once it runs.
          managed.signal('SIGCONT');
          if (!(await settlesWithin(exited, options.stopTimeoutMs ?? 15_000))) {
            managed.signal('SIGKILL');
            await settlesWithin(exited, 5_000);
          }
        }
        live.delete(managed);
      })()),
    tail: (lines = 30) => (options.logFile ? tailOf(options.logFile, lines) : ''),
  };
  live.add(managed);
  void exited.then(() => live.delete(managed));
  return managed;
}

let hooked = false;

function hookOurExit(): void {
  if (hooked) {
    return;
  }
  hooked = true;
  // Synchronous: a signal is all that can be sent now, but nothing may outlive us.
  process.on('exit', () => live.forEach((managed) => managed.signal('SIGKILL')));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      if (signalled) {
        process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
      }
      signalled = true;
      void (onShutdown ?? stopAll)().finally(() => {
        process.removeListener(sig, onSignal);
        // Listening disabled Node's "die of the signal": die of it now, unless the host (jest)
        // listens too and decides for itself.
        if (process.listenerCount(sig) === 0) {
          process.kill(process.pid, sig);
        }
      });
    };
    process.on(sig, onSignal);
  }
}

/**
 * Polls `probe` until it says yes. Fails at once, with the log's tail, when the process exits
 * first; with what the probe last saw at the deadline.
 */
export async function waitUntilReady(
  managed: Managed,
  what: string,
  probe: () => Promise<boolean>,
  { timeoutMs = 60_000 }: { timeoutMs?: number } = {},
): Promise<void> {
  // Early exits are values, not throws: waitFor counts a throw as "not yet".
  const outcome = await waitFor(
    async () => (managed.hasExited() ? 'exited' : (await probe().catch(() => false)) && 'ready'),
    { description: what, timeoutMs },
  ).catch((error: Error) => {
    throw new Error(`${error.message}${managed.tail()}`);
  });
  if (outcome === 'exited') {
    throw new Error(`${managed.name} (pid ${managed.pid}) exited during start-up${managed.tail()}`);
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** wall-clock time of the whole command */
  ms: number;
}

/**
 * Runs a short-lived command in a process group of its own (a timeout kills all it started);
 * resolves with its output (the last 256 KiB of each stream), or rejects with the command line,
 * how it ended and the tail of both streams.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const began = performance.now();
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const output = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream].on('data', (chunk: Buffer) => {
        output[stream] = (output[stream] + chunk.toString('utf8')).slice(-256 * 1024);
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signalOf(-(child.pid ?? 0), 'SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not be started: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        return resolve({ ...output, ms: performance.now() - began });
      }
      const how = timedOut ? `was killed after ${timeoutMs} ms` : `ended with ${signal ?? code}`;
      reject(
        new Error(
          `${[command, ...args].join(' ')} ${how}\n--- stdout\n${output.stdout.slice(-4000)}` +
            `\n--- stderr\n${output.stderr.slice(-4000)}`,
        ),
      );
    });
  });
}

/** A signal to a pid (negative: a group); one already gone is not an error. */
function signalOf(pid: number, sig: NodeJS.Signals): void {
  try {
    if (pid !== 0) {
      process.kill(pid, sig);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw error;
    }
  }
}

/** True while `pid` runs (a zombie counts as gone: PID 1 in a container may not reap it). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !'ZX'.includes(stat[stat.lastIndexOf(')') + 2]);
  } catch {
    return false;
  }
}

/**
 * Under jest each worker hands out ports from a range of its own below the kernel's ephemeral
 * range: a port the OS picked, released and not yet bound by the app it is for could otherwise be
 * picked again by another worker's `listen(0)` (a test upstream), which then answers the app's
 * readiness checks. A run takes one of six slots of ranges (by its temp dir), so two runs on one
 * machine seldom share one.
 */
let portsHandedOut = 0;

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const worker = Number(process.env.JEST_WORKER_ID);
  if (!(worker >= 1)) {
    return bindablePort(0);
  }
  let slot = 0;
  for (const char of process.env.TEST_TMP_DIR ?? '') {
    slot = (slot * 31 + char.charCodeAt(0)) % 6;
  }
  const start = 20_000 + (slot * 4 + ((worker - 1) % 4)) * 500;
  for (let tries = 0; tries < 500; tries += 1) {
    const bound = await bindablePort(start + (portsHandedOut++ % 500)).catch(() => null);
    if (bound !== null) {
      return bound;
    }
  }
  return bindablePort(0);
}

/** Binds `port` (0: any) on 127.0.0.1 and lets it go again; the port it had. */
function bindablePort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      const { port: bound } = server.address() as AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

/** `port` when it is free, a free one for 0/undefined; else an error naming `what` and `hint`. */
export async function portFor(port: number | undefined, what: string, hint = ''): Promise<number> {
  if (!port) {
    return freePort();
  }
  return bindablePort(port).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EADDRINUSE'
      ? new Error(`${what}: port ${port} on ${HOST} is already in use${hint && `; ${hint}`}`)
      : error;
  });
}

/** Whether `url` answers within 2 s with a status `accept` takes (any, by default). */
export async function answers(url: string, accept = (_status: number) => true): Promise<boolean> {
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
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    try {
      accessSync(join(dir || '.', name), constants.X_OK);
      return join(dir || '.', name);
    } catch {
      // next
    }
  }
  throw new Error(
    `${name} not found (Debian package ${pkg}): bash scripts/ensure-deps.sh --for test`,
  );
}

function tailOf(file: string, lines: number): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text
      ? `\n--- last lines of ${file} ---\n${text.split('\n').slice(-lines).join('\n')}`
      : `\n(${file} is empty)`;
  } catch {
    return `\n(no log at ${file})`;
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
