/**
 * Local Redis, Postgres and an S3 server (s3rver) for `npm start`, the tests, the
 * local topology and the benches: on 127.0.0.1, their files in a directory of their own, ready
 * once they answer, stopped with their own shutdown signal (tools/processes.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rmdir, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { type Managed, findBinary, runCommand, startProcess, waitUntilReady } from './processes';
import { HOST, answers, portFor } from './ports';

export interface Service extends Managed {
  readonly port: number;
}

export interface RedisService extends Service {
  readonly url: string;
}

export async function startRedis(options: {
  dataDir: string;
  port?: number;
  /** append-only persistence (npm start); tests write nothing to disk */
  persist?: boolean;
  replicaOf?: { host: string; port: number };
  /** `requirepass`, and `masterauth` with it, so that any node can become a replica */
  password?: string;
}): Promise<RedisService> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const port = await portFor(options.port, 'redis');
  const { replicaOf, password } = options;
  const redis = await startAnswering('redis', findBinary('redis-server', 'redis-server'), {
    args: [
      ...['--port', String(port), '--bind', HOST, '--dir', dataDir, '--save', ''],
      ...['--appendonly', options.persist ? 'yes' : 'no', '--logfile', ''],
      ...(replicaOf ? ['--replicaof', replicaOf.host, String(replicaOf.port)] : []),
      ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
    ],
    logFile: join(dataDir, 'redis.log'),
    port,
    probe: () => redisPing(port, password),
  });
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  return Object.assign(redis, { url: `redis://${auth}${HOST}:${port}` });
}

/** redis-cli's PING: PONG, not an error such as LOADING. */
export async function redisPing(port: number, password?: string): Promise<boolean> {
  const auth = password === undefined ? [] : ['--no-auth-warning', '-a', password];
  const { stdout } = await runCommand(
    'redis-cli',
    ['-h', HOST, '-p', String(port), ...auth, 'ping'],
    {
      timeoutMs: 2_000,
    },
  );
  return stdout.trim() === 'PONG';
}

export interface PostgresService extends Service {
  readonly url: string;
}

const PG_USER = 'artifactcache';
const isRoot = process.getuid?.() === 0;

/**
 * A Postgres cluster on 127.0.0.1 only, trusting PG_USER, made by initdb when `dataDir` is empty
 * and `database` created when missing. The postmaster is our child (as the `postgres` user when
 * we are root: it refuses root), so it stops like any other process: SIGINT is its fast shutdown.
 */
export async function startPostgres(options: {
  dataDir: string;
  database: string;
  port?: number;
  /** fsync and synchronous commits, as in production (npm start); tests run without */
  persist?: boolean;
}): Promise<PostgresService> {
  const user = isRoot ? 'postgres' : undefined;
  const dataDir = await reachableDataDir(resolve(options.dataDir));
  const binDir = postgresBinDir(dataDir);
  const port = await portFor(options.port, 'postgres');
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    if ((await readdir(dataDir).catch(() => [])).length > 0) {
      throw new Error(`${dataDir} is neither empty nor a Postgres data directory`);
    }
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const initdb = [join(binDir, 'initdb'), '-D', dataDir, '-A', 'trust', '-U', PG_USER];
    initdb.push('-E', 'UTF8', '--no-locale', ...(options.persist ? [] : ['--no-sync']));
    if (user) {
      await runCommand('chown', [`${user}:`, dataDir]);
    }
    await runCommand(...asUser(user, initdb));
  }
  const settings = [
    `listen_addresses=${HOST}`,
    // no unix socket: a deep checkout's socket path would not fit in sun_path's 107 bytes
    'unix_socket_directories=',
    // e2e runs open a pool per app per spec; the default 100 is too few for 2 jest workers
    'max_connections=200',
    ...(options.persist ? [] : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off']),
  ];
  const postgres = await startAnswering('postgres', join(binDir, 'postgres'), {
    args: ['-D', dataDir, '-p', String(port), ...settings.flatMap((s) => ['-c', s])],
    logFile: `${dataDir}.log`,
    port,
    user,
    stopSignal: 'SIGINT',
    probe: () => createDatabase(port, options.database),
  });
  const url = `postgres://${PG_USER}@${HOST}:${port}/${encodeURIComponent(options.database)}`;
  return Object.assign(postgres, { url });
}

async function createDatabase(port: number, database: string): Promise<boolean> {
  const client = new Client({
    host: HOST,
    port,
    user: PG_USER,
    database: 'postgres',
    connectionTimeoutMillis: 2_000,
  });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
    }
    return true;
  } finally {
    await client.end();
  }
}

/** The newest installed server, or the one an existing cluster was made by. */
function postgresBinDir(dataDir: string): string {
  const root = '/usr/lib/postgresql';
  const installed = (existsSync(root) ? readdirSync(root) : [])
    .filter((version) => existsSync(join(root, version, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  const versionFile = join(dataDir, 'PG_VERSION');
  const made = existsSync(versionFile) ? readFileSync(versionFile, 'utf8').trim() : undefined;
  const version = made ?? installed[0];
  if (version === undefined || !installed.includes(version)) {
    throw new Error(
      made
        ? `${dataDir} holds a PostgreSQL ${made} cluster, which is not installed (${installed.join(', ') || 'none is'})`
        : `PostgreSQL is not installed (${root}/<version>/bin/postgres): bash scripts/ensure-deps.sh`,
    );
  }
  return join(root, version, 'bin');
}

function asUser(user: string | undefined, [command, ...args]: string[]): [string, string[]] {
  return user
    ? ['setpriv', ['--reuid', user, '--regid', user, '--init-groups', '--', command, ...args]]
    : [command, args];
}

/**
 * As root, the postgres user must be able to enter the data directory's parents. A clone under
 * /root (mode 0700) is not enterable; rather than loosen /root, the cluster goes to
 * /var/lib/artifactcache and a symlink is left where it was asked for.
 */
async function reachableDataDir(asked: string): Promise<string> {
  await mkdir(dirname(asked), { recursive: true });
  const enter = asUser('postgres', ['test', '-x', dirname(asked)]);
  if (
    !isRoot ||
    (await runCommand(...enter).then(
      () => true,
      () => false,
    ))
  ) {
    return asked;
  }
  const slug = asked.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_');
  const relocated = join('/var/lib/artifactcache', slug);
  await mkdir(relocated, { recursive: true, mode: 0o700 });
  const there = await lstat(asked).catch(() => null);
  if (there?.isDirectory() && (await readdir(asked)).length === 0) {
    await rmdir(asked);
  } else if (there && !(there.isSymbolicLink() && (await readlink(asked)) === relocated)) {
    throw new Error(
      `the postgres user cannot enter ${dirname(asked)}, and ${asked} holds data: make its ` +
        'parents enterable (chmod o+x) or move it',
    );
  }
  if (!there?.isSymbolicLink()) {
    await symlink(relocated, asked);
  }
  process.stderr.write(
    `postgres: ${dirname(asked)} is closed to the postgres user; the cluster is in ${relocated}\n`,
  );
  return relocated;
}

export interface S3Service extends Service {
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: 'S3RVER';
  readonly secretAccessKey: 'S3RVER';
}

/** s3rver (scripts/s3-server.js) with `bucket` created; clients need path-style addressing. */
export async function startS3Server(options: {
  dataDir: string;
  bucket: string;
  port?: number;
}): Promise<S3Service> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const port = await portFor(options.port, 's3');
  const endpoint = `http://${HOST}:${port}`;
  const script = join(__dirname, '..', 'scripts', 's3-server.js');
  const s3 = await startAnswering('s3', process.execPath, {
    args: [script, '--dir', dataDir, '--bucket', options.bucket, '--port', String(port)],
    logFile: join(dirname(dataDir), `${basename(dataDir)}-s3-server.log`),
    port,
    // It listens once the bucket exists.
    probe: () => answers(endpoint),
  });
  return Object.assign(s3, {
    endpoint,
    bucket: options.bucket,
    accessKeyId: 'S3RVER' as const,
    secretAccessKey: 'S3RVER' as const,
  });
}

export interface Services {
  redis: RedisService;
  postgres: PostgresService;
  s3: S3Service;
}

/**
 * Redis, Postgres (with `database`) and s3rver (with `bucket`) under `dir`, started together;
 * when one fails the others are stopped, and the error names every failure.
 */
export async function startServices(
  dir: string,
  names: { database: string; bucket: string },
): Promise<Services> {
  const [redis, postgres, s3] = await Promise.allSettled([
    startRedis({ dataDir: join(dir, 'redis') }),
    startPostgres({ dataDir: join(dir, 'postgres'), database: names.database }),
    startS3Server({ dataDir: join(dir, 's3'), bucket: names.bucket }),
  ]);
  if (
    redis.status === 'fulfilled' &&
    postgres.status === 'fulfilled' &&
    s3.status === 'fulfilled'
  ) {
    return { redis: redis.value, postgres: postgres.value, s3: s3.value };
  }
  const results = [redis, postgres, s3];
  await Promise.all(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.stop()] : [])));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  throw new Error(failures.join('\n\n'));
}

/** Starts a server and waits until `probe` says it answers. */
export async function startAnswering(
  name: string,
  command: string,
  options: {
    args: string[];
    logFile: string;
    port: number;
    probe: () => Promise<boolean>;
    user?: string;
    stopSignal?: NodeJS.Signals;
  },
): Promise<Service> {
  const managed = await startProcess(name, command, options.args, options);
  await waitUntilReady(managed, `${name} on ${HOST}:${options.port} to answer`, options.probe);
  return Object.assign(managed, { port: options.port });
}
