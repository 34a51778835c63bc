import { spawn } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** wall-clock time of the whole command */
  ms: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** kill the command (SIGKILL to its process group) after this long; default 120 s */
  timeoutMs?: number;
}

/** Output kept per stream: enough to explain a failure, never a whole package. */
const KEEP_BYTES = 256 * 1024;

/**
 * Runs a command to completion and resolves with its output, or rejects with the command line,
 * the exit status and the tail of both streams (a fixture tool or a client that fails should say
 * why in the test report). The child gets its own process group so a timeout kills what it started.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
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
    let stdout = '';
    let stderr = '';
    const keep = (text: string, chunk: Buffer) =>
      (text + chunk.toString('utf8')).slice(-KEEP_BYTES);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout = keep(stdout, chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = keep(stderr, chunk);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not be started: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - began;
      if (code === 0) {
        resolve({ stdout, stderr, ms });
        return;
      }
      const status = timedOut
        ? `was killed after ${timeoutMs} ms`
        : signal
          ? `was killed by ${signal}`
          : `exited with ${code}`;
      reject(
        new Error(
          `${[command, ...args].join(' ')} ${status}\n--- stdout\n${stdout.slice(-4000)}` +
            `\n--- stderr\n${stderr.slice(-4000)}`,
        ),
      );
    });
  });
}
