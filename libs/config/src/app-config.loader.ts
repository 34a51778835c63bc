import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, formatPath } from './config-error';
import type {
  AppConfig,
  RedisConfig,
  RedisEndpoint,
  LocalRemoteConfig,
  ProxyRemoteConfig,
  RemoteConfig,
  StorageConfig,
} from './config.types';
import { LOG_LEVELS } from './config.types';
import { parseByteSize } from './byte-size';
import { substituteEnv } from './env-substitution';
import { PACKAGE_DEFAULTS } from './package-defaults';
import { compilePattern } from './path-rules';
import {
  formatIssues,
  validateRemotesFile,
  type RemoteFileEntry,
  type RemotesFile,
} from './remote-config.schema';

const DEFAULT_CONFIG_FILE = 'config/remotes.yaml';

type RuntimeConfig = Omit<AppConfig, 'remotes' | 'docker' | 'eviction'>;

/**
 * Reads the environment (docs/CONFIGURATION.md) and the remotes file once, at start-up. This is the only place
 * that reads the environment. Throws a ConfigError listing every problem found.
 */
export function loadAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const runtime = readEnvironment(env, problems);
  const data = readYamlFile(runtime.configFile, problems);
  const file = data === undefined ? null : validateRemotes(data, env, problems);
  return assemble(runtime, file, problems);
}

/**
 * The same as loadAppConfig with the remotes file given as data (as parsed from YAML), for tests
 * and tools that build a configuration in memory. `env` is still validated and substituted.
 */
export function buildAppConfig(remotesFile: unknown, env: NodeJS.ProcessEnv = {}): AppConfig {
  const problems: string[] = [];
  const runtime = readEnvironment(env, problems);
  const file = validateRemotes(remotesFile, env, problems);
  return assemble(runtime, file, problems);
}

function assemble(runtime: RuntimeConfig, file: RemotesFile | null, problems: string[]): AppConfig {
  if (problems.length > 0 || file === null) {
    throw new ConfigError(problems);
  }
  return deepFreeze({
    ...runtime,
    remotes: Object.fromEntries(
      Object.entries(file.remotes).map(([name, entry]) => [name, buildRemote(name, entry)]),
    ),
    docker: { defaultRemote: file.docker?.default_remote ?? null },
    eviction: {
      maxSize: file.storage?.max_size ?? null,
      intervalSeconds: file.storage?.evict_interval ?? 60,
      gcGraceSeconds: file.storage?.gc_grace ?? 600,
    },
  });
}

/** Typed reads of environment variables; every bad value is recorded, not thrown. */
class EnvReader {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly problems: string[],
  ) {}

  /** An empty (or blank) variable counts as unset: compose files and CI templates pass `VAR=`. */
  string(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value;
  }

  port(name: string, fallback: number): number {
    const raw = this.string(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < 1 || value > 65535) {
      return this.fail(name, 'must be an integer between 1 and 65535', fallback);
    }
    return value;
  }

  /** An interface address or host name to listen on. */
  host(name: string, fallback: string): string {
    const raw = this.string(name);
    if (raw === undefined) {
      return fallback;
    }
    if (!/^[A-Za-z0-9.:_%-]+$/.test(raw)) {
      return this.fail(
        name,
        'must be an IP address or host name (e.g. 0.0.0.0, ::, 127.0.0.1)',
        fallback,
      );
    }
    return raw;
  }

  seconds(name: string, fallback: number): number {
    const raw = this.string(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || value <= 0) {
      return this.fail(name, 'must be a number of seconds > 0', fallback);
    }
    return value;
  }

  /** A size in bytes (`0`, `4096`, `256MiB`, `1GiB`; see parseByteSize). */
  bytes(name: string, fallback: number): number {
    const raw = this.string(name);
    if (raw === undefined) {
      return fallback;
    }
    const value = parseByteSize(raw);
    if (value === null) {
      return this.fail(name, 'must be a size such as 0, 65536, 512KiB, 256MiB or 2GiB', fallback);
    }
    return value;
  }

  /** A count of processes: an integer within [1, max], or `auto` for one per CPU core. */
  processes(name: string, fallback: number, max: number): number {
    const raw = this.string(name);
    if (raw === undefined) {
      return fallback;
    }
    if (raw === 'auto') {
      return Math.min(availableParallelism(), max);
    }
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < 1 || value > max) {
      return this.fail(name, `must be auto or an integer between 1 and ${max}`, fallback);
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.string(name);
    if (raw === undefined) {
      return fallback;
    }
    if (/^(true|1)$/i.test(raw)) {
      return true;
    }
    if (/^(false|0)$/i.test(raw)) {
      return false;
    }
    return this.fail(name, 'must be true or false', fallback);
  }

  oneOf<T extends string>(name: string, options: readonly T[], fallback: T): T {
    const raw = this.string(name);
    if (raw === undefined) {
      return fallback;
    }
    if (!(options as readonly string[]).includes(raw)) {
      return this.fail(name, `must be one of ${options.join(', ')} (got "${raw}")`, fallback);
    }
    return raw as T;
  }

  /** A URL with one of `schemes`, without a trailing slash. */
  url(name: string, schemes: readonly string[]): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) {
      return undefined;
    }
    const expected = `must be a URL starting with ${schemes.map((s) => `${s}://`).join(' or ')}`;
    let protocol: string;
    try {
      protocol = new URL(raw).protocol;
    } catch {
      // The value itself is not echoed: it may hold a password.
      return this.fail(name, expected, undefined);
    }
    if (!schemes.includes(protocol.slice(0, -1))) {
      return this.fail(name, `${expected} (got ${protocol}//)`, undefined);
    }
    return raw.replace(/\/+$/, '');
  }

  /**
   * A comma-separated list of `host:port` (IPv6 as `[addr]:port`; the port may be left out for
   * `defaultPort`). Undefined when unset; every bad entry is reported in one message.
   */
  endpoints(name: string, defaultPort: number): RedisEndpoint[] | undefined {
    const raw = this.string(name);
    if (raw === undefined) {
      return undefined;
    }
    const endpoints: RedisEndpoint[] = [];
    const bad: string[] = [];
    for (const entry of raw.split(',').map((part) => part.trim())) {
      const endpoint = parseEndpoint(entry, defaultPort);
      if (endpoint) {
        endpoints.push(endpoint);
      } else {
        bad.push(`"${entry}"`);
      }
    }
    if (bad.length > 0) {
      return this.fail(
        name,
        `must be a comma-separated list of host:port (port 1-65535); not valid: ${bad.join(', ')}`,
        undefined,
      );
    }
    return endpoints;
  }

  fail<T>(name: string, message: string, fallback: T): T {
    this.problems.push(`${name}: ${message}`);
    return fallback;
  }
}

function readEnvironment(env: NodeJS.ProcessEnv, problems: string[]): RuntimeConfig {
  const read = new EnvReader(env, problems);
  const fetcherPort = read.port('FETCHER_PORT', 8081);
  return {
    configFile: resolve(process.cwd(), read.string('ARTIFACT_CONFIG') ?? DEFAULT_CONFIG_FILE),
    host: read.host('HOST', '0.0.0.0'),
    port: read.port('PORT', 8080),
    fetcherPort,
    fetcherAdvertiseUrl:
      read.url('FETCHER_ADVERTISE_URL', ['http', 'https']) ?? `http://127.0.0.1:${fetcherPort}`,
    redis: readRedis(read),
    databaseUrl:
      read.url('DATABASE_URL', ['postgres', 'postgresql']) ??
      'postgres://artifactcache@127.0.0.1:5432/artifactcache',
    storage: readStorage(read),
    adminToken: read.string('ADMIN_TOKEN') ?? null,
    publicUrl: read.url('PUBLIC_URL', ['http', 'https']) ?? null,
    fetchWaitTimeout: read.seconds('FETCH_WAIT_TIMEOUT', 300),
    spoolDirectRead: read.boolean('SPOOL_DIRECT_READ', true),
    fetchJobTimeout: read.seconds('FETCH_JOB_TIMEOUT', 3600),
    janitorInterval: read.seconds('JANITOR_INTERVAL', 600),
    leftoverMaxAge: read.seconds('LEFTOVER_MAX_AGE', 24 * 3600),
    gatewayProcesses: read.processes('GATEWAY_PROCESSES', 1, 64),
    memoryTier: {
      maxBytes: read.bytes('MEMORY_TIER_SIZE', 256 * MiB),
      maxObjectBytes: read.bytes('MEMORY_TIER_MAX_OBJECT', 4 * MiB),
    },
    log: {
      level: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
      format: read.oneOf('LOG_FORMAT', ['json', 'text', 'auto'], 'auto'),
      access: read.boolean('ACCESS_LOG', true),
    },
  };
}

const SENTINEL_PORT = 26379;
const MiB = 1024 * 1024;

function parseEndpoint(entry: string, defaultPort: number): RedisEndpoint | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d+))?$/.exec(entry);
  if (!match) {
    return null;
  }
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port < 1 || port > 65535) {
    return null;
  }
  return { host: match[1] ?? match[2], port };
}

/**
 * REDIS_URL alone: one server, the URL handed to ioredis unchanged. With REDIS_SENTINELS the
 * sentinels name the primary, and REDIS_URL only contributes what they cannot know: the user,
 * password and database (`redis://:secret@sentinel/2`); its host and port are not used.
 */
function readRedis(read: EnvReader): RedisConfig {
  const url = read.url('REDIS_URL', ['redis', 'rediss']);
  const sentinels = read.endpoints('REDIS_SENTINELS', SENTINEL_PORT);
  const name = read.string('REDIS_SENTINEL_NAME');
  const sentinelPassword = read.string('REDIS_SENTINEL_PASSWORD') ?? null;
  if (read.string('REDIS_SENTINELS') === undefined) {
    if (name !== undefined) {
      read.fail('REDIS_SENTINELS', 'required when REDIS_SENTINEL_NAME is set', null);
    }
    if (sentinelPassword !== null) {
      read.fail('REDIS_SENTINELS', 'required when REDIS_SENTINEL_PASSWORD is set', null);
    }
    return { mode: 'standalone', url: url ?? 'redis://127.0.0.1:6379' };
  }
  if (name === undefined) {
    read.fail('REDIS_SENTINEL_NAME', 'required when REDIS_SENTINELS is set', null);
  } else if (!/^[A-Za-z0-9._:-]+$/.test(name)) {
    read.fail(
      'REDIS_SENTINEL_NAME',
      'must be the master group name of the sentinels (letters, digits, ._:-)',
      null,
    );
  }
  const credentials = url === undefined ? null : sentinelCredentials(read, url);
  return {
    mode: 'sentinel',
    sentinels: sentinels ?? [],
    name: name ?? '',
    username: credentials?.username ?? null,
    password: credentials?.password ?? null,
    db: credentials?.db ?? 0,
    sentinelPassword,
  };
}

function sentinelCredentials(
  read: EnvReader,
  url: string,
): { username: string | null; password: string | null; db: number } | null {
  const parsed = new URL(url);
  if (parsed.protocol === 'rediss:') {
    return read.fail(
      'REDIS_URL',
      'rediss:// (TLS) is not supported together with REDIS_SENTINELS; use redis://',
      null,
    );
  }
  const path = parsed.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) {
    return read.fail('REDIS_URL', 'the path must be a database number (redis://host/2)', null);
  }
  return {
    username: parsed.username === '' ? null : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? null : decodeURIComponent(parsed.password),
    db: path === '' ? 0 : Number(path),
  };
}

function readStorage(read: EnvReader): StorageConfig {
  const driver = read.oneOf('STORAGE_DRIVER', ['fs', 's3'], 'fs');
  if (driver === 'fs') {
    return { driver, path: resolve(process.cwd(), read.string('STORAGE_PATH') ?? '.data/storage') };
  }
  const endpoint = read.url('S3_ENDPOINT', ['http', 'https']) ?? null;
  const bucket =
    read.string('S3_BUCKET') ?? read.fail('S3_BUCKET', 'required when STORAGE_DRIVER=s3', '');
  const accessKeyId = read.string('S3_ACCESS_KEY_ID') ?? null;
  const secretAccessKey = read.string('S3_SECRET_ACCESS_KEY') ?? null;
  if (accessKeyId !== null && secretAccessKey === null) {
    read.fail('S3_SECRET_ACCESS_KEY', 'required when S3_ACCESS_KEY_ID is set', null);
  }
  if (accessKeyId === null && secretAccessKey !== null) {
    read.fail('S3_ACCESS_KEY_ID', 'required when S3_SECRET_ACCESS_KEY is set', null);
  }
  return {
    driver,
    endpoint,
    bucket,
    region: read.string('S3_REGION') ?? 'us-east-1',
    accessKeyId,
    secretAccessKey,
    // MinIO, Ceph and Garage behind a custom endpoint usually have no per-bucket DNS names.
    forcePathStyle: read.boolean('S3_FORCE_PATH_STYLE', endpoint !== null),
  };
}

/** The parsed YAML document, or undefined (with the problem recorded). */
function readYamlFile(path: string, problems: string[]): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : error instanceof Error
            ? error.message
            : String(error);
    problems.push(`ARTIFACT_CONFIG: cannot read remotes file ${path}: ${reason}`);
    return undefined;
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      problems.push(
        `${path}: YAML syntax error at line ${line}, column ${col}: ${error.message.split('\n')[0]}`,
      );
    }
    return undefined;
  }
  return document.toJS();
}

function validateRemotes(
  data: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
): RemotesFile | null {
  const substituted = substituteEnv(data, env);
  const substitutionPaths = new Set<string>();
  for (const problem of substituted.problems) {
    const field = formatPath(problem.path);
    substitutionPaths.add(field);
    problems.push(`${field}: ${problem.message}`);
  }
  const validation = validateRemotesFile(substituted.value);
  if (!validation.ok) {
    // A field whose `${VAR}` could not be expanded was already reported; its raw text would only
    // add a second, misleading complaint (`base_url: must be an http(s) URL`).
    const issues = validation.issues.filter(
      (issue) => !substitutionPaths.has(formatPath(issue.path)),
    );
    problems.push(...formatIssues(issues));
    return null;
  }
  return substituted.problems.length > 0 ? null : validation.file;
}

type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;
/** Keys of the remotes file with no field of that name in the loaded config: must be none. */
type UnloadedKeys = Exclude<
  CamelCase<Extract<keyof RemoteFileEntry, string>>,
  keyof ProxyRemoteConfig | keyof LocalRemoteConfig
>;
// Fails to compile, naming the key, when the schema gains a key the config types lack.
const everyKeyIsLoaded: [UnloadedKeys] extends [never] ? true : UnloadedKeys = true;
void everyKeyIsLoaded;

function buildRemote(name: string, entry: RemoteFileEntry): RemoteConfig {
  if (entry.package === 'local') {
    return { name, package: 'local', allowOverwrite: entry.allow_overwrite };
  }
  if (entry.base_url === undefined) {
    throw new Error(`remotes.${name}.base_url: required (not caught by validation)`);
  }
  const defaults = PACKAGE_DEFAULTS[entry.package];
  return {
    name,
    package: entry.package,
    baseUrl: entry.base_url,
    immutablePatterns: (entry.immutable_patterns ?? defaults.immutable).map(compilePattern),
    mutablePatterns: (entry.mutable_patterns ?? defaults.mutable).map(compilePattern),
    customPatterns: entry.immutable_patterns !== undefined || entry.mutable_patterns !== undefined,
    includePatterns: entry.include_patterns.map(compilePattern),
    mutableTtl: entry.mutable_ttl,
    checkMutableUpdates: entry.check_mutable_updates,
    negativeTtl: entry.negative_ttl,
    upstreamMissing: entry.upstream_missing,
    upstreamTimeout: entry.upstream_timeout,
    redirectHosts: entry.redirect_hosts,
    username: entry.username ?? null,
    password: entry.password ?? null,
    maxSize: entry.max_size ?? null,
    evictUnusedAfter: entry.evict_unused_after ?? null,
    offline: entry.offline,
    circuit: {
      failures: entry.circuit.failures,
      windowSeconds: entry.circuit.window,
      openForSeconds: entry.circuit.open_for,
    },
    maxRequestsPerMinute: entry.max_requests_per_minute ?? null,
    maxConcurrent: entry.max_concurrent ?? null,
    tagCheckWindow: entry.tag_check_window,
    filesUrl: entry.files_url ?? null,
    sumdbUrl: entry.sumdb_url ?? null,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    // Freezing a RegExp is safe: without the g or y flag, test() and exec() never write lastIndex.
    Object.freeze(value);
    for (const key of Object.keys(value)) {
      deepFreeze((value as Record<string, unknown>)[key]);
    }
  }
  return value;
}
