/**
 * Local Redis, Redis Sentinel, Postgres and an S3 server (s3rver) for `npm start`, the tests,
 * the local topology and the benches: started on 127.0.0.1 with their files in a directory of
 * their own, ready once they answer, stopped with their own shutdown signal (tools/processes.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  chown,
  lstat,
  mkdir,
  readdir,
  readlink,
  rmdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createConnection } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import {
  HOST,
  type Managed,
  findBinary,
  portFor,
  runCommand,
  startProcess,
  waitUntilReady,
} from './processes';

const isRoot = process.getuid?.() === 0;

export interface Service extends Managed {
  readonly port: number;
}

export interface RedisService extends Service {
  readonly url: string;
}

export interface StartRedisOptions {
  dataDir: string;
  /** default: a free port; a port that is taken fails with a message (and `portInUseHint`) */
  port?: number;
  portInUseHint?: string;
  /** append-only persistence (npm start); by default nothing is written to disk (tests) */
  persist?: boolean;
  /** start as a replica of this server */
  replicaOf?: { host: string; port: number };
  /** `requirepass`, and `masterauth` with it, so that any node can become a replica */
  password?: string;
}

export async function startRedis(options: StartRedisOptions): Promise<RedisService> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const port = await portFor(options.port, 'redis', options.portInUseHint);
  const args = [
    ...['--port', String(port), '--bind', HOST, '--dir', dataDir, '--save', ''],
    ...['--appendonly', options.persist ? 'yes' : 'no', '--logfile', ''],
    ...(options.replicaOf
      ? ['--replicaof', options.replicaOf.host, String(options.replicaOf.port)]
      : []),
    ...(options.password === undefined
      ? []
      : ['--requirepass', options.password, '--masterauth', options.password]),
  ];
  const redis = await startAnswering('redis', findBinary('redis-server', 'redis-server'), args, {
    logFile: join(dataDir, 'redis.log'),
    port,
    probe: () => redisPing(port, options.password),
  });
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return Object.assign(redis, { url: `redis://${auth}${HOST}:${port}` });
}

export interface StartSentinelOptions {
  /** its config file (Sentinel rewrites it as it learns the topology) and its log */
  dataDir: string;
  /** the master group: its name, the primary's address, the quorum that calls it down */
  monitor: { name: string; host: string; port: number; quorum: number };
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  /** the primary's and replicas' password */
  authPass?: string;
  /** this sentinel's own `requirepass` (shared by a group of sentinels) */
  password?: string;
}

/** A sentinel watching one master group; start the primary first (sentinels find each other through it). */
export async function startSentinel(options: StartSentinelOptions): Promise<Service> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const port = await portFor(undefined, 'redis-sentinel');
  const { name, host, port: primary, quorum } = options.monitor;
  const configFile = join(dataDir, 'sentinel.conf');
  await writeFile(
    configFile,
    [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${dataDir}`,
      'logfile ""',
      `sentinel monitor ${name} ${host} ${primary} ${quorum}`,
      `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 30_000}`,
      `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 180_000}`,
      `sentinel parallel-syncs ${name} 1`,
      ...(options.authPass === undefined ? [] : [`sentinel auth-pass ${name} ${options.authPass}`]),
      ...(options.password === undefined ? [] : [`requirepass ${options.password}`]),
      '',
    ].join('\n'),
  );
  return startAnswering(
    'redis-sentinel',
    findBinary('redis-sentinel', 'redis-sentinel'),
    [configFile],
    {
      logFile: join(dataDir, 'sentinel.log'),
      port,
      probe: () => redisPing(port, options.password),
    },
  );
}

/** One PING over a raw socket (after AUTH): true on +PONG; a -LOADING reply is a no. */
function redisPing(port: number, password?: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: HOST, port });
    const commands = password === undefined ? ['PING'] : [`AUTH ${password}`, 'PING'];
    let reply = '';
    const end = (ok: boolean): void => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1_000, () => end(false));
    socket.on('connect', () => socket.write(commands.map((c) => `${c}\r\n`).join('')));
    socket.on('data', (chunk: Buffer) => {
      const lines = (reply += chunk.toString()).split('\r\n');
      if (lines.length > commands.length) {
        end(lines[commands.length - 1].startsWith('+PONG'));
      }
    });
    socket.on('error', () => end(false));
  });
}

export interface PostgresService extends Service {
  readonly url: string;
  readonly database: string;
  /** where the cluster really is (under /var/lib/artifactcache when the postgres user cannot reach dataDir) */
  readonly dataDir: string;
}

export interface StartPostgresOptions {
  /** the cluster (created by initdb when missing or empty; reused otherwise) */
  dataDir: string;
  /** created when missing */
  database: string;
  port?: number;
  portInUseHint?: string;
  /** fsync and synchronous commits, as in production (npm start); tests run without */
  persist?: boolean;
}

const PG_USER = 'artifactcache';

/**
 * A Postgres cluster listening on 127.0.0.1 only, with trust authentication for PG_USER. The
 * postmaster runs as our child (as the `postgres` user when we are root: it refuses root), so it
 * stops like any other process: SIGINT is its fast shutdown.
 */
export async function startPostgres(options: StartPostgresOptions): Promise<PostgresService> {
  const user = isRoot ? 'postgres' : undefined;
  const dataDir = await reachableDataDir(resolve(options.dataDir));
  const binDir = postgresBinDir(dataDir);
  const port = await portFor(options.port, 'postgres', options.portInUseHint);
  const logFile = `${dataDir}.log`;
  await writeFile(logFile, '', { flag: 'a' });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    if ((await readdir(dataDir).catch(() => [])).length > 0) {
      throw new Error(`${dataDir} is neither empty nor a Postgres data directory`);
    }
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await handTo(user, dataDir);
    const initdb = ['-D', dataDir, '-A', 'trust', '-U', PG_USER, '-E', 'UTF8', '--no-locale'];
    await runCommand(
      ...asUser(user, join(binDir, 'initdb'), [
        ...initdb,
        ...(options.persist ? [] : ['--no-sync']),
      ]),
    );
  }
  const settings = [
    `listen_addresses=${HOST}`,
    // no unix socket: a deep checkout's socket path would not fit in sun_path's 107 bytes
    'unix_socket_directories=',
    // e2e runs open a pool per app per spec; the default 100 is too few for 2 jest workers
    'max_connections=200',
    ...(options.persist ? [] : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off']),
  ];
  const postgres = await startAnswering(
    'postgres',
    join(binDir, 'postgres'),
    ['-D', dataDir, '-p', String(port), ...settings.flatMap((setting) => ['-c', setting])],
    {
      logFile,
      port,
      user,
      stopSignal: 'SIGINT',
      probe: () => createDatabase(port, options.database),
    },
  );
  return Object.assign(postgres, {
    url: `postgres://${PG_USER}@${HOST}:${port}/${encodeURIComponent(options.database)}`,
    database: options.database,
    dataDir,
  });
}

/** Ready once it takes connections: the database is created then, if it is missing. */
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
  const made = existsSync(join(dataDir, 'PG_VERSION'))
    ? readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim()
    : undefined;
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

function asUser(user: string | undefined, command: string, args: string[]): [string, string[]] {
  return user
    ? ['setpriv', ['--reuid', user, '--regid', user, '--init-groups', '--', command, ...args]]
    : [command, args];
}

/** As root, the cluster's directory belongs to the user Postgres runs as. */
async function handTo(user: string | undefined, dir: string): Promise<void> {
  if (user) {
    const [uid, gid] = await Promise.all(
      ['-u', '-g'].map(async (flag) => Number((await runCommand('id', [flag, user])).stdout)),
    );
    await chown(dir, uid, gid);
  }
}

/**
 * As root, the postgres user must be able to enter the data directory's parents. A clone under
 * /root (mode 0700) is not enterable; rather than loosen /root, the cluster goes to
 * /var/lib/artifactcache and a symlink is left where it was asked for.
 */
async function reachableDataDir(asked: string): Promise<string> {
  await mkdir(dirname(asked), { recursive: true });
  if (!isRoot || (await canEnter('postgres', dirname(asked)))) {
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
    `postgres: the postgres user cannot enter ${dirname(asked)}; the cluster is in ${relocated}\n`,
  );
  return relocated;
}

async function canEnter(user: string, dir: string): Promise<boolean> {
  return runCommand(...asUser(user, 'test', ['-x', dir])).then(
    () => true,
    () => false,
  );
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
  const asked = await portFor(options.port, 's3');
  let port = 0;
  let pending = '';
  const script = join(__dirname, '..', 'scripts', 's3-server.js');
  const s3 = await startAnswering(
    's3',
    process.execPath,
    [script, '--dir', dataDir, '--bucket', options.bucket, '--port', String(asked)],
    {
      logFile: join(dirname(dataDir), `${basename(dataDir)}-s3-server.log`),
      port: asked,
      // It prints one JSON line with the port it listens on once the bucket exists.
      onStdout: (chunk) => {
        const line = (pending += chunk.toString()).split('\n').find((l) => l.startsWith('{'));
        port ||= line ? (JSON.parse(line) as { port: number }).port : 0;
      },
      probe: () => Promise.resolve(port > 0),
    },
  );
  return Object.assign(s3, {
    port,
    endpoint: `http://${HOST}:${port}`,
    bucket: options.bucket,
    accessKeyId: 'S3RVER' as const,
    secretAccessKey: 'S3RVER' as const,
  });
}

/** Starts a server and waits until `probe` says it answers; stops it again if it never does. */
async function startAnswering(
  name: string,
  command: string,
  args: string[],
  options: {
    logFile: string;
    port: number;
    probe: () => Promise<boolean>;
    user?: string;
    stopSignal?: NodeJS.Signals;
    onStdout?: (chunk: Buffer) => void;
  },
): Promise<Service> {
  const managed = await startProcess(name, command, args, options);
  try {
    await waitUntilReady(managed, `${name} on ${HOST}:${options.port} to answer`, options.probe, {
      timeoutMs: 60_000,
    });
  } catch (error) {
    await managed.stop();
    throw error;
  }
  return Object.assign(managed, { port: options.port });
}
