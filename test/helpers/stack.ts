import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { type App, type AppKind, type S3Settings, appEnv, startApp } from '../../tools/apps';
import { freePort } from '../../tools/ports';
import { waitFor } from '../../tools/wait-for';
import {
  allocateRedisDatabase,
  createBucket,
  createDatabase,
  pgQuery,
  requireEnv,
  s3Client,
} from './isolated-services';

export interface StackOptions {
  /** the remotes file's `remotes` map, snake_case as in remotes.yaml */
  remotes: Record<string, Record<string, unknown>>;
  docker?: { default_remote?: string };
  /** the remotes file's `storage` section (caps, eviction interval, collection grace) */
  storage_limits?: { max_size?: string; evict_interval?: number; gc_grace?: number };
  gateways?: number;
  fetchers?: number;
  storage?: 'fs' | 's3';
  env?: Record<string, string>;
}

/** One gateway or fetcher process of a stack: started, killed and started again by specs. */
export class AppProcess {
  private app: App | null = null;
  readonly url: string;

  constructor(
    readonly kind: AppKind,
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get pid(): number | undefined {
    return this.app?.pid;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** Ready once it answers /health at all: whether it is healthy is for the spec to judge. */
  async start(): Promise<void> {
    const { env, port, logFile } = this;
    this.app = await startApp(this.kind, { env, port, logFile, timeoutMs: 30_000 });
  }

  /** SIGKILL: a crash, as far as everyone else can tell. */
  async kill(): Promise<void> {
    this.app?.signal('SIGKILL');
    await this.app?.exited;
  }

  async stop(): Promise<void> {
    await this.app?.stop();
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
  readonly storagePath: string;
  /** the stack's bucket, with s3 storage */
  bucket: S3Settings | null = null;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly redisUrl: string,
    readonly databaseUrl: string,
  ) {
    this.storagePath = join(dir, 'storage');
  }

  static async start(options: StackOptions): Promise<Stack> {
    // Unique across spec files too: jest reuses a worker (and its pid) for several files.
    const name = `s${process.pid}x${++stackCounter}x${randomBytes(3).toString('hex')}`;
    const dir = join(requireEnv('TEST_TMP_DIR'), 'stacks', name);
    mkdirSync(dir, { recursive: true });
    const stack = new Stack(name, dir, await allocateRedisDatabase(), await createDatabase(name));
    const configFile = join(dir, 'remotes.yaml');
    const { remotes, docker, storage_limits: storage } = options;
    await writeFile(configFile, stringify({ remotes, docker, storage }));
    const services = {
      configFile,
      redisUrl: stack.redisUrl,
      databaseUrl: stack.databaseUrl,
      storage:
        options.storage === 's3' ? (stack.bucket = await createBucket(name)) : stack.storagePath,
    };
    const app = async (kind: AppKind, i: number): Promise<AppProcess> => {
      const port = await freePort();
      // The other app's port is one no test server can have taken.
      const other = kind === 'gateway' ? { FETCHER_PORT: '1' } : { PORT: '1' };
      const env = appEnv(kind, port, services, { NODE_ENV: 'test', ...other, ...options.env });
      return new AppProcess(kind, port, env, join(dir, `${kind}-${i}.log`));
    };
    for (let i = 0; i < (options.fetchers ?? 1); i += 1) {
      stack.fetchers.push(await app('fetcher', i));
    }
    for (let i = 0; i < (options.gateways ?? 1); i += 1) {
      stack.gateways.push(await app('gateway', i));
    }
    try {
      await Promise.all([...stack.fetchers, ...stack.gateways].map((process) => process.start()));
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

  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return pgQuery<T>(this.databaseUrl, sql, params);
  }

  /** Waits until `remote` has `count` cached-file records (the fetchers write them on the side). */
  async recordsWritten(remote: string, count: number): Promise<void> {
    await waitFor(
      async () => {
        const rows = await this.query<{ n: string }>(
          'SELECT count(*) AS n FROM cached_artifacts WHERE remote = $1',
          [remote],
        );
        return Number(rows[0].n) === count;
      },
      { description: `${count} records of ${remote}`, timeoutMs: 15_000 },
    );
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

  /**
   * Bytes storage holds, the way a disk or a bill counts them: fs: each file under blobs/ and
   * content/ once, however many names it has; s3: the size of every object in the bucket.
   */
  async storedBytes(): Promise<number> {
    if (this.bucket !== null) {
      const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
      const client = await s3Client();
      let bytes = 0;
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: this.bucket.bucket, ContinuationToken: token }),
          );
          bytes += (page.Contents ?? []).reduce((sum, object) => sum + (object.Size ?? 0), 0);
          token = page.NextContinuationToken;
        } while (token !== undefined);
        return bytes;
      } finally {
        client.destroy();
      }
    }
    const sizes = new Map<number, number>();
    for (const dir of ['blobs', 'content']) {
      const entries = await readdir(join(this.storagePath, dir), {
        recursive: true,
        withFileTypes: true,
      }).catch(() => []);
      for (const entry of entries.filter((e) => e.isFile())) {
        const info = await stat(join(entry.parentPath, entry.name));
        sizes.set(info.ino, info.size);
      }
    }
    return [...sizes.values()].reduce((sum, size) => sum + size, 0);
  }

  async removeStorage(): Promise<void> {
    await rm(this.storagePath, { recursive: true, force: true });
  }
}
