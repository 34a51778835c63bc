/**
 * Shared start-up chores of both apps. A fatal error is printed once, after the app's name and
 * what failed (`gateway: Invalid configuration: …`), then the process exits 1.
 */
export function exitOnFatal(what: string, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${what}: ${message}\n`);
  process.exit(1);
}

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Nest's shutdown hooks close queues and connections; when Redis is gone those can wait forever
 * for a reconnect. A stop signal must still stop the process, so give them a deadline.
 */
export function forceExitAfterGrace(): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        process.stderr.write(`shutdown took over ${SHUTDOWN_GRACE_MS} ms; exiting\n`);
        process.exit(1);
      }, SHUTDOWN_GRACE_MS).unref();
    });
  }
}
