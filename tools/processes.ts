/**
 * The processes that `npm start`, the tests and the benches start, handled one way: each in a
 * process group of its own (a Ctrl-C meant for us does not reach it half-way through our
 * shutdown, and a stop signals exactly its group) unless the caller shares its own
 * (shareProcessGroup: `npm start`), its output in a log file whose tail explains
 * a failure, stopped with its stop signal and then SIGKILL after a deadline, and never left
 * behind: a SIGINT or SIGTERM to this process stops them all (the last started first), an exit
 * without stopping them kills them, and a SIGKILL of this process sends each its stop signal
 * (util-linux's `setpriv --pdeathsig`, which also runs it as another user when asked).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './wait-for';

export const HOST = '127.0.0.1';
const STOP_TIMEOUT_MS = 15_000;

export interface ProcessOptions {
  /** stdout and stderr are appended here; without one they go to ours (npm start's apps) */
  logFile?: string;
  /** run as this user (root only): Postgres refuses to run as root */
  user?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** how it is asked to stop: SIGTERM, or what the program reads as "shut down now" */
  stopSignal?: NodeJS.Signals;
  /** how long it may take to stop before SIGKILL */
  stopTimeoutMs?: number;
  /** sees stdout as it comes (it still goes to the log) */
  onStdout?: (chunk: Buffer) => void;
}

export interface Managed {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string | undefined;
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

const live: Managed[] = [];
let shutdown: (() => Promise<void>) | null = null;
let hooked = false;
let signalled = false;
let ownGroups = true;

/**
 * From now on, the processes started stay in this process's group: whoever started us (a
 * terminal, a supervisor, a bench) then signals and measures the whole cache as one group, the
 * way it would a single program. `npm start` does this; tests keep a group per process, since a
 * fault test stops one of them (SIGSTOP) and must reach all its children.
 */
export function shareProcessGroup(): void {
  ownGroups = false;
}

/** Whether a SIGINT or SIGTERM asked this process to stop (its processes are being stopped). */
export function shuttingDown(): boolean {
  return signalled;
}

/** Starts `command` in its own process group and tracks it until it is stopped or exits. */
export async function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: ProcessOptions,
): Promise<Managed> {
  hookProcessExit();
  const stopSignal = options.stopSignal ?? 'SIGTERM';
  const log = options.logFile === undefined ? 'inherit' : openSync(options.logFile, 'a');
  const asUser = options.user
    ? ['--reuid', options.user, '--regid', options.user, '--init-groups']
    : [];
  let child: ChildProcess;
  try {
    child = spawn('setpriv', [...asUser, '--pdeathsig', stopSignal, '--', command, ...args], {
      cwd: options.cwd ?? '/',
      env: options.env ?? process.env,
      detached: ownGroups,
      stdio: ['ignore', options.onStdout ? 'pipe' : log, log],
    });
  } finally {
    if (typeof log === 'number') {
      closeSync(log);
    }
  }
  const group = ownGroups;
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', (error) =>
      reject(new Error(`cannot start ${name} (${command}): ${error.message}`)),
    );
  });
  if (options.onStdout && options.logFile !== undefined) {
    const onStdout = options.onStdout;
    const copy = openSync(options.logFile, 'a');
    child.stdout?.on('data', (chunk: Buffer) => {
      onStdout(chunk);
      try {
        writeSync(copy, chunk);
      } catch {
        // the log is for explaining failures; losing a line of it is not one
      }
    });
    child.stdout?.once('close', () => closeSync(copy));
  }
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const exited = hasExited()
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const managed: Managed = {
    name,
    pid,
    logFile: options.logFile,
    exited,
    hasExited,
    signal: (sig) => signalOf(pid, group, sig),
    stop: () => {
      stopping ??= (async () => {
        if (!hasExited()) {
          signalOf(pid, group, stopSignal);
          // A stopped process (a fault test's SIGSTOP) acts on its stop signal only once it runs.
          signalOf(pid, group, 'SIGCONT');
          if (!(await settlesWithin(exited, options.stopTimeoutMs ?? STOP_TIMEOUT_MS))) {
            signalOf(pid, group, 'SIGKILL');
            await settlesWithin(exited, 5_000);
          }
        }
        forget(managed);
      })();
      return stopping;
    },
    tail: (lines) => (options.logFile === undefined ? '' : tailOf(options.logFile, lines)),
  };
  live.push(managed);
  void exited.then(() => forget(managed));
  return managed;
}

function forget(managed: Managed): void {
  const at = live.indexOf(managed);
  if (at !== -1) {
    live.splice(at, 1);
  }
}

/** Stops every process still running, the last started first. */
export async function stopAll(): Promise<void> {
  for (const managed of [...live].reverse()) {
    await managed.stop();
  }
}

/**
 * What a SIGINT or SIGTERM to this process does before it dies of it: by default stopAll. A CLI
 * that stops its processes in an order of its own, or reports first, sets its own here.
 */
export function onShutdownSignal(stop: () => Promise<void>): void {
  shutdown = stop;
}

function hookProcessExit(): void {
  if (hooked) {
    return;
  }
  hooked = true;
  // Synchronous, so a signal is all that can be done: nothing may outlive us.
  process.on('exit', () => live.forEach((managed) => managed.signal('SIGKILL')));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    let received = false;
    const onSignal = (): void => {
      if (received) {
        process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
      }
      received = true;
      signalled = true;
      void (shutdown ?? stopAll)().finally(() => {
        process.removeListener(sig, onSignal);
        // Listening disabled Node's "die of the signal"; die of it now, unless the host (jest,
        // a CLI) listens too and decides for itself.
        if (process.listenerCount(sig) === 0) {
          process.kill(process.pid, sig);
        }
      });
    };
    process.on(sig, onSignal);
  }
}

/** Aborted by startProcess callers' `signal` while waiting for readiness. */
export class StartAborted extends Error {
  constructor() {
    super('start-up aborted');
    this.name = 'StartAborted';
  }
}

/**
 * Polls `probe` until it says yes. Fails at once, with the log's tail, when the process exits
 * first; with what the probe last saw at the deadline; with StartAborted when `signal` aborts.
 */
export async function waitUntilReady(
  managed: Managed,
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  let outcome: 'ready' | 'exited' | 'aborted';
  try {
    // Early exits are values, not throws: waitFor counts a throw as "not yet" and polls on.
    outcome = await waitFor(
      async () =>
        options.signal?.aborted
          ? ('aborted' as const)
          : managed.hasExited()
            ? ('exited' as const)
            : (await probe().catch(() => false))
              ? ('ready' as const)
              : false,
      { description: what, timeoutMs: options.timeoutMs ?? 60_000, intervalMs: 50 },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}${managed.tail()}`);
  }
  if (outcome === 'exited') {
    throw new Error(`${managed.name} (pid ${managed.pid}) exited during start-up${managed.tail()}`);
  }
  if (outcome === 'aborted') {
    throw new StartAborted();
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** wall-clock time of the whole command */
  ms: number;
}

/** Output kept per stream: enough to explain a failure, never a whole package. */
const KEEP_BYTES = 256 * 1024;

/**
 * Runs a short-lived command in a process group of its own (a timeout kills what it started)
 * and resolves with its output, or rejects with the command line, how it ended and the tail of
 * both streams.
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
        output[stream] = (output[stream] + chunk.toString('utf8')).slice(-KEEP_BYTES);
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signalOf(child.pid ?? 0, true, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not be started: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve({ ...output, ms: performance.now() - began });
        return;
      }
      const how = timedOut
        ? `was killed after ${timeoutMs} ms`
        : signal
          ? `was killed by ${signal}`
          : `exited with ${code}`;
      reject(
        new Error(
          `${[command, ...args].join(' ')} ${how}\n--- stdout\n${output.stdout.slice(-4000)}` +
            `\n--- stderr\n${output.stderr.slice(-4000)}`,
        ),
      );
    });
  });
}

/** A signal to `pid`'s group when it leads one, else to `pid`; one already gone is not an error. */
function signalOf(pid: number, group: boolean, sig: NodeJS.Signals): void {
  if (pid <= 0) {
    return;
  }
  try {
    process.kill(group ? -pid : pid, sig);
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
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Under jest, each worker hands out its own range of ports below the kernel's ephemeral range
 * (32768 and up): a port the OS picked, released, and not yet bound by the app it is for could
 * otherwise be picked again by another worker's `listen(0)` (a test upstream), which then
 * answers the app's readiness checks. Each run takes one of several slots of ranges (by its temp
 * dir), so two runs on one machine seldom share one.
 */
const WORKER_PORTS = { first: 20_000, slots: 6, workers: 4, perWorker: 500 };
let workerPortsHandedOut = 0;

/** A port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const worker = Number(process.env.JEST_WORKER_ID);
  if (!Number.isInteger(worker) || worker < 1) {
    return bindablePort(0);
  }
  const { first, slots, workers, perWorker } = WORKER_PORTS;
  const run = process.env.TEST_TMP_DIR ?? '';
  let slot = 0;
  for (const char of run) {
    slot = (slot * 31 + char.charCodeAt(0)) % slots;
  }
  const start = first + (slot * workers + ((worker - 1) % workers)) * perWorker;
  for (let tries = 0; tries < perWorker; tries += 1) {
    const port = start + (workerPortsHandedOut % perWorker);
    workerPortsHandedOut += 1;
    const bound = await bindablePort(port).catch(() => null);
    if (bound !== null) {
      return bound;
    }
  }
  return bindablePort(0);
}

/** Binds `port` (0: the OS picks) on 127.0.0.1 and lets it go again; the port it had. */
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

/** `port` when it is free (or a free one for 0/undefined); else an error saying what took it. */
export async function portFor(
  port: number | undefined,
  what: string,
  hint?: string,
): Promise<number> {
  if (!port) {
    return freePort();
  }
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `${what}: port ${port} on ${HOST} is already in use${hint ? `; ${hint}` : ''}`,
            )
          : error,
      ),
    );
    server.listen(port, HOST, () => server.close(() => resolve()));
  });
  return port;
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

function tailOf(file: string, lines = 30): string {
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
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
