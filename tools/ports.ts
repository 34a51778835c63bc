/** Loopback ports for the processes the toolkit starts, and whether an HTTP server answers. */
import { createServer, type AddressInfo } from 'node:net';

export const HOST = '127.0.0.1';

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
