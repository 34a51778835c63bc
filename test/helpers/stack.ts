import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync, existsSync, readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { writeFile, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { stringify } from 'yaml';
import { APP_NODE_FLAGS, freePort } from '../../scripts/local-services';
import {
  allocateRedisDatabase,
  createBucket,
  createDatabase,
  requireEnv,
} from './isolated-services';
import { waitFor } from './wait-for';

const ROOT = join(__dirname, '..', '..');
const ENTRY = {
  gateway: join(ROOT, 'dist/apps/gateway/src/main.js'),
  fetcher: join(ROOT, 'dist/apps/fetcher/src/main.js'),
};

export interface StackOptions {
  /** the remotes file's `remotes` map, snake_case as in remotes.yaml */
  remotes: Record<string, Record<string, unknown>>;
  docker?: { default_remote?: string };
  gateways?: number;
  fetchers?: number;
  storage?: 'fs' | 's3';
  env?: Record<string, string>;
}

/** One gateway or fetcher process of a stack. */
export class AppProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly kind: 'gateway' | 'fetcher',
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  async start(): Promise<void> {
    const fd = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [...APP_NODE_FLAGS, ENTRY[this.kind]], {
      env: this.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(
      async () => {
        if (child.exitCode !== null) {
          throw new Error(
            `${this.kind} exited with ${child.exitCode}:\n${this.log().slice(-2000)}`,
          );
        }
        // Any answer means it is listening; whether it is healthy is for the test to judge.
        const response = await fetch(`${this.url}/health`);
        return response.status > 0;
      },
      {
        description: `${this.kind} on ${this.url} to answer /health`,
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
  }

  /** SIGKILL: a crash, as far as everyone else can tell. */
  async kill(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
    await this.exited;
    clearTimeout(timer);
  }
}

let stackCounter = 0;

/**
 * Gateways and fetchers as real processes (the built apps), sharing the run's Redis, Postgres and
 * S3. Each stack gets its own Redis database, Postgres database and storage, so specs running in
 * parallel never see each other's jobs or files.
 */
export class Stack {
  readonly gateways: AppProcess[] = [];
  readonly fetchers: AppProcess[] = [];
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly storagePath: string;
  readonly dir: string;

  private constructor(
    readonly name: string,
    env: { redisUrl: string; databaseUrl: string; dir: string; storagePath: string },
  ) {
    this.redisUrl = env.redisUrl;
    this.databaseUrl = env.databaseUrl;
    this.dir = env.dir;
    this.storagePath = env.storagePath;
  }

  static async start(options: StackOptions): Promise<Stack> {
    const tmp = requireEnv('TEST_TMP_DIR');
    stackCounter += 1;
    // Unique across spec files too: jest reuses a worker (and its pid) for several files.
    const name = `s${process.pid}x${stackCounter}x${randomBytes(3).toString('hex')}`;
    const dir = join(tmp, 'stacks', name);
    mkdirSync(dir, { recursive: true });

    const redisUrl = await allocateRedisDatabase();
    const databaseUrl = await createDatabase(name);
    const storagePath = join(dir, 'storage');
    const configFile = join(dir, 'remotes.yaml');
    await writeFile(
      configFile,
      stringify({
        remotes: options.remotes,
        ...(options.docker ? { docker: options.docker } : {}),
      }),
    );

    const stack = new Stack(name, { redisUrl, databaseUrl, dir, storagePath });
    const baseEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      ARTIFACT_CONFIG: configFile,
      REDIS_URL: redisUrl,
      DATABASE_URL: databaseUrl,
      ...(options.storage === 's3'
        ? await s3Env(name)
        : { STORAGE_DRIVER: 'fs', STORAGE_PATH: storagePath }),
      ...options.env,
    };
    const fetcherCount = options.fetchers ?? 1;
    const gatewayCount = options.gateways ?? 1;
    for (let i = 0; i < fetcherCount; i += 1) {
      const port = await freePort();
      stack.fetchers.push(
        new AppProcess(
          'fetcher',
          port,
          {
            ...baseEnv,
            FETCHER_PORT: String(port),
            FETCHER_ADVERTISE_URL: `http://127.0.0.1:${port}`,
            PORT: '1',
          },
          join(dir, `fetcher-${i}.log`),
        ),
      );
    }
    for (let i = 0; i < gatewayCount; i += 1) {
      const port = await freePort();
      stack.gateways.push(
        new AppProcess(
          'gateway',
          port,
          { ...baseEnv, PORT: String(port), FETCHER_PORT: '1' },
          join(dir, `gateway-${i}.log`),
        ),
      );
    }
    try {
      await Promise.all([...stack.fetchers, ...stack.gateways].map((app) => app.start()));
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** Base URL of gateway `i`. */
  url(i = 0): string {
    return this.gateways[i].url;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.gateways, ...this.fetchers].map((app) => app.stop()));
  }

  /** A Redis client on this stack's database (close it). */
  redis(): Redis {
    return new Redis(this.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  /** Every file under the fs storage's `keys/` (records, and any temp file), as keys, sorted. */
  storedKeys(): string[] {
    const dir = join(this.storagePath, 'keys');
    if (!existsSync(dir)) {
      return [];
    }
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => !entry.isDirectory())
      .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
      .sort();
  }

  async removeStorage(): Promise<void> {
    await rm(this.storagePath, { recursive: true, force: true });
  }
}

async function s3Env(name: string): Promise<Record<string, string>> {
  const bucket = await createBucket(name);
  return {
    STORAGE_DRIVER: 's3',
    S3_ENDPOINT: bucket.endpoint,
    S3_BUCKET: bucket.bucket,
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY_ID: bucket.accessKeyId,
    S3_SECRET_ACCESS_KEY: bucket.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}
