/**
 * `npm start`: a working single-node cache on a fresh machine (README.md).
 *   - REDIS_URL / DATABASE_URL unset: installs redis-server / postgresql if missing
 *     (scripts/ensure-deps.sh) and runs local ones with their data under .data/ (Redis on 6379,
 *     Postgres on 5432 with database `artifactcache`; LOCAL_REDIS_PORT / LOCAL_POSTGRES_PORT
 *     change those). A taken port is an error that says how to use the server already there.
 *   - builds both apps and runs the fetcher and the gateway (config/remotes.yaml and the fs
 *     storage in .data/storage unless ARTIFACT_CONFIG / STORAGE_* say otherwise).
 *   - everything stays in its process group, so a supervisor (or a bench) signals and measures
 *     the cache as one program: Ctrl-C reaches every part at once; SIGTERM to it alone stops all
 *     it started, the gateway first; when a part exits by itself, the rest is stopped and it
 *     exits non-zero; even its SIGKILL stops the rest.
 * Works as root (Postgres then runs as the `postgres` user) and as any other user.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadAppConfig } from '../libs/config/src';
import { ROOT, startApp } from '../tools/apps';
import { runCommand, shareProcessGroup, shuttingDown, stopAll } from '../tools/processes';
import { portFor } from '../tools/ports';
import { startPostgres, startRedis } from '../tools/services';

const say = (text: string): void => void process.stderr.write(`start: ${text}\n`);
const env = process.env;

async function main(): Promise<void> {
  shareProcessGroup();
  process.chdir(ROOT);
  mkdirSync('.data', { recursive: true });
  // Everything that can be wrong is checked before anything is built or started (a second
  // `npm start` must not rebuild dist under a cache that runs from it), the config once.
  loadAppConfig(env);
  const port = await portFor(
    Number(env.PORT ?? 8080),
    'the gateway',
    'stop what listens there or set PORT',
  );
  const fetcherPort = await portFor(
    Number(env.FETCHER_PORT ?? 8081),
    'the fetcher',
    'stop what listens there or set FETCHER_PORT',
  );
  const redisPort = await localServicePort('Redis', 'REDIS_URL=redis://127.0.0.1:PORT', 6379);
  const postgresPort = await localServicePort(
    'Postgres',
    'DATABASE_URL=postgres://USER@127.0.0.1:PORT/DB',
    5432,
  );
  if (redisPort || postgresPort) {
    const deps = spawnSync('bash', ['scripts/ensure-deps.sh', '--for', 'start'], {
      stdio: 'inherit',
    });
    if (deps.status !== 0) {
      throw new Error(
        `installing Redis and Postgres failed (scripts/ensure-deps.sh exited with ${deps.status})`,
      );
    }
  }
  const [redisUrl, databaseUrl] = await Promise.all([
    env.REDIS_URL ??
      startRedis({ dataDir: '.data/redis', port: redisPort, persist: true }).then((r) => r.url),
    env.DATABASE_URL ??
      startPostgres({
        dataDir: '.data/postgres',
        database: 'artifactcache',
        port: postgresPort,
        persist: true,
      }).then((p) => p.url),
    runCommand('npm', ['run', 'build', '--silent'], { cwd: ROOT, timeoutMs: 300_000 }).catch(
      (error: Error) => {
        throw new Error(`the build failed: ${error.message}`);
      },
    ),
  ]);
  say(`REDIS_URL=${redisUrl} DATABASE_URL=${databaseUrl}`);
  const appEnv = {
    ...env,
    PORT: `${port}`,
    FETCHER_PORT: `${fetcherPort}`,
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
  };
  const ready = 'healthy';
  const fetcher = await startApp('fetcher', {
    env: appEnv,
    port: fetcherPort,
    ready,
    timeoutMs: 120_000,
  });
  const gateway = await startApp('gateway', { env: appEnv, port, ready, timeoutMs: 120_000 });
  say(
    `artifact cache ready: http://127.0.0.1:${port} (gateway), fetcher health on :${fetcherPort}. Ctrl-C stops it.`,
  );
  const gone = await Promise.race([fetcher, gateway].map((app) => app.exited.then(() => app)));
  if (!shuttingDown()) {
    throw new Error(`${gone.name} (pid ${gone.pid}) exited by itself`);
  }
}

/**
 * The port of the local Redis or Postgres to run (LOCAL_REDIS_PORT / LOCAL_POSTGRES_PORT, else
 * `fallback`), or 0 when the URL variable names a server to use.
 */
async function localServicePort(
  what: string,
  useExample: string,
  fallback: number,
): Promise<number> {
  const urlVariable = useExample.split('=')[0];
  const portVariable = `LOCAL_${what.toUpperCase()}_PORT`;
  if (env[urlVariable]) {
    return 0;
  }
  const hint = `set ${useExample} to use the ${what} there, ${portVariable} for another port, or stop it`;
  return portFor(Number(env[portVariable] ?? fallback), `the local ${what}`, hint);
}

main().catch(async (error: unknown) => {
  if (!shuttingDown()) {
    say(`${error instanceof Error ? error.message : String(error)}; stopping`);
    await stopAll();
    process.exit(1);
  }
});
