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
import { join } from 'node:path';
import { waitFor } from './wait-for';

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
 * first; with what the probe last saw at the deadline. A process that does not get ready is
 * stopped before the failure is reported.
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
  ).catch(async (error: Error) => {
    await managed.stop();
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
