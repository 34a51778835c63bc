import cluster, { type Worker } from 'node:cluster';
import { Logger } from '@nestjs/common';
import { serveClusterMetrics } from '@app/metrics';

/** A worker that dies is replaced after this long... */
const RESTART_DELAY_MS = 1000;
/** ...unless this many died within the window: then the whole gateway exits (a crash loop). */
const MAX_DEATHS = 5;
const DEATH_WINDOW_MS = 60_000;
/** Longest the workers get to finish their requests once the gateway is told to stop. */
const STOP_GRACE_MS = 30_000;

/**
 * GATEWAY_PROCESSES > 1: this process forks that many gateway workers sharing the port (the
 * kernel spreads connections over them), replaces a worker that dies, sums their metrics for
 * /metrics, and stops them all on SIGTERM/SIGINT. It serves no request itself.
 */
export function superviseGateways(processes: number): void {
  const logger = new Logger('GatewayCluster');
  const deaths: number[] = [];
  let stopping = false;
  serveClusterMetrics();

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        process.exit(0);
      }
      return;
    }
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && deaths[0] < now - DEATH_WINDOW_MS) {
      deaths.shift();
    }
    logger.error(`gateway worker ${worker.process.pid} died (${signal ?? `exit ${code}`})`);
    if (deaths.length >= MAX_DEATHS) {
      logger.error(`${deaths.length} gateway workers died within a minute: stopping`);
      stop(1);
      return;
    }
    setTimeout(() => cluster.fork(), RESTART_DELAY_MS).unref();
  });

  const stop = (code: number): void => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) {
      worker?.process.kill('SIGTERM');
    }
    setTimeout(() => process.exit(code), STOP_GRACE_MS).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      process.exit(code);
    }
  };
  process.once('SIGTERM', () => stop(0));
  process.once('SIGINT', () => stop(0));

  for (let i = 0; i < processes; i += 1) {
    cluster.fork();
  }
  logger.log(`gateway cluster: ${processes} worker processes`);
}
