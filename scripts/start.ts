/**
 * `npm start`: a working single-node cache on a fresh machine (README.md).
 *   - REDIS_URL / DATABASE_URL unset: installs redis-server / postgresql if missing
 *     (scripts/ensure-deps.sh) and runs local ones with their data under .data/ (Redis on 6379,
 *     Postgres on 5432 with database `artifactcache`; LOCAL_REDIS_PORT / LOCAL_POSTGRES_PORT
 *     change those). A taken port is an error that says how to use the server already there.
 *   - builds both apps and runs the fetcher and the gateway (config/remotes.yaml and the fs
 *     storage in .data/storage unless ARTIFACT_CONFIG / STORAGE_* say otherwise).
 *   - everything it runs stays in its process group, so a supervisor (or a bench) signals and
 *     measures the cache as one group. Ctrl-C reaches every part at once, and each shuts down
 *     gracefully; SIGTERM to it alone stops everything it started, the gateway first. When any
 *     part exits by itself, the rest is stopped and it exits non-zero. Even a SIGKILL of it
 *     stops the rest.
 * Works as root (Postgres then runs as the `postgres` user) and as any other user.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadAppConfig } from '../libs/config/src';
import { type App, ROOT, startApp } from '../tools/apps';
import {
  type Managed,
  portFor,
  runCommand,
  shareProcessGroup,
  shuttingDown,
  stopAll,
} from '../tools/processes';
import { startPostgres, startRedis } from '../tools/services';

const say = (text: string): void => void process.stderr.write(`start: ${text}\n`);
const env = process.env;
const REDIS_PORT_HINT =
  'set REDIS_URL=redis://127.0.0.1:PORT to use the Redis there, LOCAL_REDIS_PORT for another port, or stop it';
const POSTGRES_PORT_HINT =
  'set DATABASE_URL=postgres://USER@127.0.0.1:PORT/DB to use the server there, LOCAL_POSTGRES_PORT for another port, or stop it';

async function main(): Promise<void> {
  shareProcessGroup();
  process.chdir(ROOT);
  mkdirSync('.data', { recursive: true });
  // Everything that can be wrong is checked before anything is built or started: a second
  // `npm start` must not rebuild dist under a cache that runs from it.
  // The configuration the apps will read, checked once here: a problem is printed once.
  loadAppConfig(env);
  const port = Number(env.PORT ?? 8080);
  const fetcherPort = Number(env.FETCHER_PORT ?? 8081);
  const redisPort = Number(env.LOCAL_REDIS_PORT ?? 6379);
  const postgresPort = Number(env.LOCAL_POSTGRES_PORT ?? 5432);
  await portFor(port, 'the gateway', 'stop what listens there or set PORT');
  await portFor(fetcherPort, 'the fetcher', 'stop what listens there or set FETCHER_PORT');
  if (!env.REDIS_URL) {
    await portFor(redisPort, 'the local Redis', REDIS_PORT_HINT);
  }
  if (!env.DATABASE_URL) {
    await portFor(postgresPort, 'the local Postgres', POSTGRES_PORT_HINT);
  }
  if (!env.REDIS_URL || !env.DATABASE_URL) {
    shell('bash', ['scripts/ensure-deps.sh', '--for', 'start'], 'installing Redis and Postgres');
  }
  const [redisUrl, databaseUrl] = await Promise.all([
    env.REDIS_URL ??
      startRedis({
        dataDir: '.data/redis',
        port: redisPort,
        persist: true,
      }).then((redis) => redis.url),
    env.DATABASE_URL ??
      startPostgres({
        dataDir: '.data/postgres',
        database: 'artifactcache',
        port: postgresPort,
        persist: true,
      }).then((postgres) => postgres.url),
    runCommand('npm', ['run', 'build', '--silent'], { cwd: ROOT, timeoutMs: 300_000 }).catch(
      (error: Error) => {
        throw new Error(`the build failed: ${error.message}`);
      },
    ),
  ]);
  say(`REDIS_URL=${redisUrl} DATABASE_URL=${databaseUrl}`);
  const appEnv = {
    ...env,
    PORT: String(port),
    FETCHER_PORT: String(fetcherPort),
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
  };
  const apps: App[] = [];
  for (const [kind, appPort] of [
    ['fetcher', fetcherPort],
    ['gateway', port],
  ] as const) {
    apps.push(
      await startApp(kind, {
        env: appEnv,
        port: appPort,
        ready: 'healthy',
        timeoutMs: 120_000,
      }),
    );
  }
  say(
    `artifact cache ready: http://127.0.0.1:${port} (gateway), fetcher health on :${fetcherPort}. Ctrl-C stops it.`,
  );
  const gone = await Promise.race(apps.map((app: Managed) => app.exited.then(() => app)));
  if (shuttingDown()) {
    return;
  }
  throw new Error(`${gone.name} (pid ${gone.pid}) exited by itself`);
}

/** A command whose output the user should see, run to its end. */
function shell(command: string, args: string[], what: string): void {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) {
    throw new Error(`${what} failed (${command} ${args.join(' ')} exited with ${result.status})`);
  }
}

main().catch(async (error: unknown) => {
  if (shuttingDown()) {
    return;
  }
  say(`${error instanceof Error ? error.message : String(error)}; stopping`);
  await stopAll();
  process.exit(1);
});
