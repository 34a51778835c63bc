/**
 * The built gateway and fetcher (`npm run build`) as processes, for `npm start`, the tests, the
 * local topology and the benches alike.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Managed, startProcess, waitUntilReady } from './processes';
import { HOST, answers } from './ports';

export const ROOT = join(__dirname, '..');

export type AppKind = 'gateway' | 'fetcher';

const ENTRY: Record<AppKind, string> = {
  gateway: join(ROOT, 'dist/apps/gateway/src/main.js'),
  fetcher: join(ROOT, 'dist/apps/fetcher/src/main.js'),
};

/**
 * The Node flags both apps run with, from package.json's `start:gateway` script: the one place
 * they are written (the Dockerfile and docker-compose.yml are checked against it). Why these
 * flags: docs/PERFORMANCE.md#settings.
 */
function appNodeFlags(): string[] {
  const scripts = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;
  const words = scripts['start:gateway'].split(/\s+/);
  return words.slice(1, words.indexOf(relativeEntry('gateway')));
}

function relativeEntry(kind: AppKind): string {
  return ENTRY[kind].slice(ROOT.length + 1);
}

/** An S3 endpoint and bucket (the bucket must exist; addressed path-style). */
export interface S3Settings {
  endpoint: string;
  bucket: string;
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Where the apps of one cache find their remotes file, Redis, Postgres and storage. */
export interface CacheServices {
  configFile: string;
  redisUrl: string;
  databaseUrl: string;
  /** S3, or the directory of fs storage */
  storage: S3Settings | string;
}

/**
 * The whole environment of one app of a cache listening on `port` (of ours only PATH and HOME),
 * then `extra`.
 */
export function appEnv(
  kind: AppKind,
  port: number,
  services: CacheServices,
  extra: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const { storage } = services;
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST,
    ARTIFACT_CONFIG: services.configFile,
    REDIS_URL: services.redisUrl,
    DATABASE_URL: services.databaseUrl,
    ...(typeof storage === 'string'
      ? { STORAGE_DRIVER: 'fs', STORAGE_PATH: storage }
      : {
          STORAGE_DRIVER: 's3',
          S3_ENDPOINT: storage.endpoint,
          S3_BUCKET: storage.bucket,
          S3_REGION: storage.region ?? 'us-east-1',
          S3_ACCESS_KEY_ID: storage.accessKeyId,
          S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
          S3_FORCE_PATH_STYLE: 'true',
        }),
    ...(kind === 'gateway'
      ? { PORT: `${port}` }
      : { FETCHER_PORT: `${port}`, FETCHER_ADVERTISE_URL: `http://${HOST}:${port}` }),
    ...extra,
  };
}

export interface App extends Managed {
  readonly kind: AppKind;
  readonly port: number;
  readonly url: string;
}

export interface StartAppOptions {
  /** the app's whole environment (PORT or FETCHER_PORT included) */
  env: NodeJS.ProcessEnv;
  port: number;
  /** default: the app's output goes to ours */
  logFile?: string;
  name?: string;
  /** `listening`: any answer to /health will do (tests judge health themselves); `healthy`: 200 */
  ready?: 'listening' | 'healthy';
  timeoutMs?: number;
}

export async function startApp(kind: AppKind, options: StartAppOptions): Promise<App> {
  if (!existsSync(ENTRY[kind])) {
    throw new Error(`${ENTRY[kind]} is missing: run npm run build first`);
  }
  const name = options.name ?? kind;
  const url = `http://${HOST}:${options.port}`;
  // For profiling, e.g. APP_EXTRA_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (docs/PERFORMANCE.md).
  const extra = process.env.APP_EXTRA_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const managed = await startProcess(
    name,
    process.execPath,
    [...appNodeFlags(), ...extra, ENTRY[kind]],
    { logFile: options.logFile, env: options.env, cwd: ROOT },
  );
  const app = Object.assign(managed, { kind, port: options.port, url });
  const healthy = options.ready === 'healthy';
  await waitUntilReady(
    app,
    `${name} on ${url} to answer /health${healthy ? ' with 200' : ''}`,
    () => answers(`${url}/health`, (status) => !healthy || status === 200),
    { timeoutMs: options.timeoutMs },
  );
  return app;
}
