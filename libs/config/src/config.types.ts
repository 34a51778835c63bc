export const APP_CONFIG = Symbol('APP_CONFIG');

export const PACKAGE_TYPES = [
  'docker',
  'rpm',
  'alpine',
  'debian',
  'generic',
  'pypi',
  'npm',
  'cargo',
  'go',
  'local',
] as const;
export type PackageType = (typeof PACKAGE_TYPES)[number];
export type ProxyPackageType = Exclude<PackageType, 'local'>;

export const UPSTREAM_MISSING_POLICIES = ['serve_stale', 'not_found'] as const;
export type UpstreamMissingPolicy = (typeof UPSTREAM_MISSING_POLICIES)[number];

/** A remote that pulls through from an upstream. */
export interface ProxyRemoteConfig {
  readonly name: string;
  readonly package: ProxyPackageType;
  /** no trailing slash */
  readonly baseUrl: string;
  readonly immutablePatterns: readonly RegExp[];
  readonly mutablePatterns: readonly RegExp[];
  /** true when the remote file set immutable_patterns or mutable_patterns itself (strict mode: 403 for neither) */
  readonly customPatterns: boolean;
  readonly includePatterns: readonly RegExp[];
  /** seconds */
  readonly mutableTtl: number;
  readonly checkMutableUpdates: boolean;
  /** seconds; 0 = off */
  readonly negativeTtl: number;
  readonly upstreamMissing: UpstreamMissingPolicy;
  /** seconds */
  readonly upstreamTimeout: number;
  /** hosts a redirect may lead to even though they resolve to internal addresses */
  readonly redirectHosts: readonly string[];
  readonly username: string | null;
  readonly password: string | null;
  /** bytes this remote may store, the least recently used evicted first; null: no cap */
  readonly maxSize: number | null;
  /** seconds without a hit (or since the fetch, if never hit) before a file is evicted; null: never */
  readonly evictUnusedAfter: number | null;
  /** serve only what is cached; misses answer 503 (an admin can also switch it at run time) */
  readonly offline: boolean;
  /** `failures` upstream failures within `windowSeconds` take it offline for `openForSeconds`; 0: never */
  readonly circuit: {
    readonly failures: number;
    readonly windowSeconds: number;
    readonly openForSeconds: number;
  };
  /** upstream requests a minute, every replica together (a token bucket); null: no budget */
  readonly maxRequestsPerMinute: number | null;
  /** upstream requests open at once, every replica together; null: no limit */
  readonly maxConcurrent: number | null;
  /** seconds a tag's last upstream check answers its revalidations (docker); 0: none */
  readonly tagCheckWindow: number;
  /** where a pypi or cargo index's files are, when not under base_url (no trailing slash); null: none */
  readonly filesUrl: string | null;
  /** the checksum database a go remote proxies (no trailing slash); null: none */
  readonly sumdbUrl: string | null;
}

/** A hosted remote: files uploaded by users. */
export interface LocalRemoteConfig {
  readonly name: string;
  readonly package: 'local';
  readonly allowOverwrite: boolean;
}

export type RemoteConfig = ProxyRemoteConfig | LocalRemoteConfig;

export type StorageConfig =
  | { readonly driver: 'fs'; readonly path: string }
  | {
      readonly driver: 's3';
      readonly endpoint: string | null;
      readonly bucket: string;
      readonly region: string;
      readonly accessKeyId: string | null;
      readonly secretAccessKey: string | null;
      readonly forcePathStyle: boolean;
    };

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * Where Redis is. Every connection (request path, BullMQ queue, workers, queue events) is built
 * from this one value, so a failover is followed by all of them alike.
 */
export type RedisConfig =
  /** one server: REDIS_URL, passed to ioredis as written */
  | { readonly mode: 'standalone'; readonly url: string }
  /** a primary found through Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME) */
  | {
      readonly mode: 'sentinel';
      readonly sentinels: readonly RedisEndpoint[];
      /** the master group name the sentinels monitor */
      readonly name: string;
      /** from REDIS_URL's user-info: the primary's and replicas' ACL user and password */
      readonly username: string | null;
      readonly password: string | null;
      /** from REDIS_URL's path */
      readonly db: number;
      /** REDIS_SENTINEL_PASSWORD: the sentinels' own `requirepass`, if any */
      readonly sentinelPassword: string | null;
    };

export interface AppConfig {
  readonly configFile: string;
  /** interface both apps listen on */
  readonly host: string;
  readonly port: number;
  readonly fetcherPort: number;
  /** base URL other processes use to reach this fetcher's port (in-flight streams) */
  readonly fetcherAdvertiseUrl: string;
  readonly redis: RedisConfig;
  readonly databaseUrl: string;
  readonly storage: StorageConfig;
  readonly adminToken: string | null;
  /** the URL clients reach the cache at (no trailing slash), for links it writes; null: each request's own */
  readonly publicUrl: string | null;
  /** seconds a request waits for its fetch to start */
  readonly fetchWaitTimeout: number;
  /** a gateway reads an in-flight fetch from the fetcher's spool file when it can open it */
  readonly spoolDirectRead: boolean;
  /** seconds one fetch attempt may take at most, however steadily its upstream trickles */
  readonly fetchJobTimeout: number;
  /** seconds between the fetchers' sweeps of interrupted writes and dead spool files */
  readonly janitorInterval: number;
  /** seconds after which an interrupted write's leftovers are surely abandoned */
  readonly leftoverMaxAge: number;
  /** gateway processes sharing the gateway's port (node:cluster); 1 = no cluster */
  readonly gatewayProcesses: number;
  /** each gateway process's in-memory copies of small immutable hits (0 bytes: off) */
  readonly memoryTier: { readonly maxBytes: number; readonly maxObjectBytes: number };
  readonly log: LogConfig;
  readonly remotes: Readonly<Record<string, RemoteConfig>>;
  readonly docker: { readonly defaultRemote: string | null };
  /**
   * the remotes file's `storage`: a cap over every remote, how often eviction runs, and how long
   * a stored content no record names stays before it is removed
   */
  readonly eviction: {
    readonly maxSize: number | null;
    readonly intervalSeconds: number;
    readonly gcGraceSeconds: number;
  };
}

/** How a path of a remote is cached, or that it is refused. */
export type PathClass = 'immutable' | 'mutable' | 'forbidden';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogConfig {
  /** the least severe lines written */
  readonly level: LogLevel;
  /** json: one object per line; text: for a terminal; auto: text on a terminal, else json */
  readonly format: 'json' | 'text' | 'auto';
  /** one line per request the gateway answers */
  readonly access: boolean;
}
