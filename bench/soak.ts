/**
 * npm run soak: minutes of mixed load (hits, misses, 404s, index revalidations, uploads, reads
 * and deletes of hosted files, flushes) at 64 connections against 2 gateways and 2 fetchers,
 * every body checked against its sha256. Prints the answers by operation and status, what was
 * unexpected, RSS and open descriptors of every process at the start, after the warm-up and at
 * the end, and the spool files left; exits 1 when the run fails (bench/soak/verdict.ts).
 * Knobs: SOAK_SECONDS (600), SOAK_CONNECTIONS (64), SOAK_WARMUP_SECONDS (40% of the run),
 * SOAK_FLUSH_SECONDS (15), SOAK_KEEP=1 keeps the logs of a passing run too.
 * The CI version is test/soak.e2e-spec.ts (30 s).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, startRedis, type Service } from '../tools/services';
import { runSoak } from './soak/run-soak';

function knob(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a whole number above 0, not ${JSON.stringify(raw)}`);
  }
  return value;
}

async function main(): Promise<number> {
  const seconds = knob('SOAK_SECONDS', 600)!;
  const connections = knob('SOAK_CONNECTIONS', 64)!;
  const warmupSeconds = knob('SOAK_WARMUP_SECONDS', undefined);
  const flushEverySeconds = knob('SOAK_FLUSH_SECONDS', 15);
  if (warmupSeconds !== undefined && warmupSeconds >= seconds) {
    throw new Error('SOAK_WARMUP_SECONDS must be shorter than SOAK_SECONDS');
  }

  const abort = new AbortController();
  // Kept for the whole run: with no listener left, tools/processes.ts re-raises the signal once
  // it has stopped what it started, and this process would die before its own cleanup. A second
  // Ctrl-C makes it exit at once; the processes are then killed on exit.
  const onSignal = () => {
    if (!abort.signal.aborted) {
      process.stderr.write('soak: interrupted, stopping what it started\n');
      abort.abort();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const dir = mkdtempSync(join(tmpdir(), 'artifactcache-soak-'));
  // As root, Postgres runs as `postgres` and must be able to enter it.
  chmodSync(dir, 0o755);
  const services: Service[] = [];
  let keep = process.env.SOAK_KEEP === '1';
  try {
    const [redis, postgres] = await Promise.all([
      startRedis({ dataDir: join(dir, 'redis') }),
      startPostgres({ dataDir: join(dir, 'postgres'), database: 'soak' }),
    ]);
    services.push(redis, postgres);
    Object.assign(process.env, {
      TEST_TMP_DIR: dir,
      TEST_REDIS_URL: redis.url,
      TEST_DATABASE_URL: postgres.url,
    });
    const result = await runSoak({
      seconds,
      connections,
      warmupSeconds,
      flushEverySeconds,
      signal: abort.signal,
      log: (line) => process.stdout.write(`soak: ${line}\n`),
    });
    process.stdout.write(`\n${result.report}`);
    keep ||= result.failures.length > 0;
    return result.failures.length === 0 ? 0 : 1;
  } catch (error) {
    keep = true;
    if (abort.signal.aborted) {
      return 130;
    }
    throw error;
  } finally {
    await Promise.allSettled(services.map((s) => s.stop()));
    if (keep) {
      process.stdout.write(`soak: logs kept in ${dir} (the stack's under stacks/)\n`);
    } else {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
