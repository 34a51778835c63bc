import type { AppConfig, RedisConfig, RemoteConfig } from './config.types';
import { patternSource } from './path-rules';

const REDACTED = '***';

export interface RedactedProxyRemote {
  readonly package: string;
  readonly base_url: string;
  readonly immutable_patterns: readonly string[];
  readonly mutable_patterns: readonly string[];
  readonly include_patterns: readonly string[];
  readonly mutable_ttl: number;
  readonly check_mutable_updates: boolean;
  readonly negative_ttl: number;
  readonly upstream_missing: string;
  readonly upstream_timeout: number;
  readonly redirect_hosts: readonly string[];
  /** bytes; null: no cap */
  readonly max_size: number | null;
  /** seconds; null: never */
  readonly evict_unused_after: number | null;
  readonly offline: boolean;
  readonly circuit: {
    readonly failures: number;
    readonly window: number;
    readonly open_for: number;
  };
  /** null: no budget */
  readonly max_requests_per_minute: number | null;
  /** null: no limit */
  readonly max_concurrent: number | null;
  /** docker remotes only */
  readonly tag_check_window?: number;
  readonly files_url?: string | null;
  readonly sumdb_url?: string | null;
  readonly username?: typeof REDACTED;
  readonly password?: typeof REDACTED;
}

export interface RedactedLocalRemote {
  readonly package: 'local';
  readonly allow_overwrite: boolean;
}

export interface RedactedConfig {
  readonly remotes: Readonly<Record<string, RedactedProxyRemote | RedactedLocalRemote>>;
  readonly docker: { readonly default_remote: string | null };
  readonly storage: {
    readonly max_size: number | null;
    readonly evict_interval: number;
    readonly gc_grace: number;
  };
}

export type RedactedRedis =
  | { readonly url: string }
  | {
      readonly sentinels: readonly string[];
      readonly name: string;
      readonly username: string | null;
      readonly password: typeof REDACTED | null;
      readonly db: number;
      readonly sentinel_password: typeof REDACTED | null;
    };

/** Process settings for a start-up log line; never part of `GET /config`. */
export interface RedactedRuntime {
  readonly config_file: string;
  readonly host: string;
  readonly port: number;
  readonly fetcher_port: number;
  readonly fetcher_advertise_url: string;
  readonly redis: RedactedRedis;
  readonly database_url: string;
  readonly storage: Readonly<Record<string, string | boolean | null>>;
  readonly admin_token: typeof REDACTED | null;
  readonly fetch_wait_timeout: number;
  readonly spool_direct_read: boolean;
  readonly fetch_job_timeout: number;
  readonly janitor_interval: number;
  readonly leftover_max_age: number;
  readonly gateway_processes: number;
  readonly memory_tier: { readonly max_bytes: number; readonly max_object_bytes: number };
  readonly log: { readonly level: string; readonly format: string; readonly access: boolean };
}

/**
 * Replaces the user-info of a URL: `https://user:pass@host/x` → `https://***:***@host/x`.
 * Anything else in the string is returned as written (no URL normalisation).
 */
export function redactUrl(value: string): string {
  const schemeEnd = value.indexOf('://');
  if (schemeEnd < 0) {
    return value;
  }
  const authorityStart = schemeEnd + 3;
  const rest = value.slice(authorityStart);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  // The last `@` ends the user-info (WHATWG URL), so an unencoded `@` in a password is covered.
  const at = authority.lastIndexOf('@');
  if (at < 0) {
    return value;
  }
  const userInfo = authority.slice(0, at);
  const colon = userInfo.indexOf(':');
  const redacted = colon < 0 ? REDACTED : `${colon === 0 ? '' : REDACTED}:${REDACTED}`;
  return `${value.slice(0, authorityStart)}${redacted}${value.slice(authorityStart + at)}`;
}

function redactRedis(redis: RedisConfig): RedactedRedis {
  if (redis.mode === 'standalone') {
    return { url: redactUrl(redis.url) };
  }
  return {
    sentinels: redis.sentinels.map(({ host, port }) =>
      host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    ),
    name: redis.name,
    username: redis.username,
    password: redis.password === null ? null : REDACTED,
    db: redis.db,
    sentinel_password: redis.sentinelPassword === null ? null : REDACTED,
  };
}

function redactRemote(remote: RemoteConfig): RedactedProxyRemote | RedactedLocalRemote {
  if (remote.package === 'local') {
    return { package: remote.package, allow_overwrite: remote.allowOverwrite };
  }
  return {
    package: remote.package,
    base_url: redactUrl(remote.baseUrl),
    immutable_patterns: remote.immutablePatterns.map(patternSource),
    mutable_patterns: remote.mutablePatterns.map(patternSource),
    include_patterns: remote.includePatterns.map(patternSource),
    mutable_ttl: remote.mutableTtl,
    check_mutable_updates: remote.checkMutableUpdates,
    negative_ttl: remote.negativeTtl,
    upstream_missing: remote.upstreamMissing,
    upstream_timeout: remote.upstreamTimeout,
    redirect_hosts: remote.redirectHosts,
    max_size: remote.maxSize,
    evict_unused_after: remote.evictUnusedAfter,
    offline: remote.offline,
    circuit: {
      failures: remote.circuit.failures,
      window: remote.circuit.windowSeconds,
      open_for: remote.circuit.openForSeconds,
    },
    max_requests_per_minute: remote.maxRequestsPerMinute,
    max_concurrent: remote.maxConcurrent,
    ...(remote.package === 'docker' && { tag_check_window: remote.tagCheckWindow }),
    ...((remote.package === 'pypi' || remote.package === 'cargo') && {
      files_url: remote.filesUrl && redactUrl(remote.filesUrl),
    }),
    ...(remote.package === 'go' && { sumdb_url: remote.sumdbUrl && redactUrl(remote.sumdbUrl) }),
    ...(remote.username !== null && { username: REDACTED }),
    ...(remote.password !== null && { password: REDACTED }),
  };
}

/**
 * The JSON-safe view of the remotes for `GET /config` and logs, in the remotes file's own keys,
 * with every credential replaced by `***`. Process settings (tokens, database and S3 secrets)
 * are not part of it; see redactRuntime.
 */
export function redactConfig(config: AppConfig): RedactedConfig {
  return {
    remotes: Object.fromEntries(
      Object.entries(config.remotes).map(([name, remote]) => [name, redactRemote(remote)]),
    ),
    docker: { default_remote: config.docker.defaultRemote },
    storage: {
      max_size: config.eviction.maxSize,
      evict_interval: config.eviction.intervalSeconds,
      gc_grace: config.eviction.gcGraceSeconds,
    },
  };
}

/** Process settings for a start-up log line, with URLs' passwords and every secret redacted. */
export function redactRuntime(config: AppConfig): RedactedRuntime {
  const { storage } = config;
  return {
    config_file: config.configFile,
    host: config.host,
    port: config.port,
    fetcher_port: config.fetcherPort,
    fetcher_advertise_url: redactUrl(config.fetcherAdvertiseUrl),
    redis: redactRedis(config.redis),
    database_url: redactUrl(config.databaseUrl),
    storage:
      storage.driver === 'fs'
        ? { driver: storage.driver, path: storage.path }
        : {
            driver: storage.driver,
            endpoint: storage.endpoint === null ? null : redactUrl(storage.endpoint),
            bucket: storage.bucket,
            region: storage.region,
            access_key_id: storage.accessKeyId === null ? null : REDACTED,
            secret_access_key: storage.secretAccessKey === null ? null : REDACTED,
            force_path_style: storage.forcePathStyle,
          },
    admin_token: config.adminToken === null ? null : REDACTED,
    fetch_wait_timeout: config.fetchWaitTimeout,
    spool_direct_read: config.spoolDirectRead,
    fetch_job_timeout: config.fetchJobTimeout,
    janitor_interval: config.janitorInterval,
    leftover_max_age: config.leftoverMaxAge,
    gateway_processes: config.gatewayProcesses,
    memory_tier: {
      max_bytes: config.memoryTier.maxBytes,
      max_object_bytes: config.memoryTier.maxObjectBytes,
    },
    log: { level: config.log.level, format: config.log.format, access: config.log.access },
  };
}
