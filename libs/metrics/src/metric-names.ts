const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const FETCH_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export interface MetricDefinition {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  readonly labels: readonly string[];
  readonly buckets?: readonly number[];
}

/**
 * Every metric of both apps, defined once: MetricsModule registers these, docs/METRICS.md
 * describes them (a spec checks the two agree). Labels are bounded: remote names come from
 * config, never from a URL as typed.
 */
export const METRICS = {
  requests: {
    name: 'artifactcache_requests_total',
    type: 'counter',
    help: 'HTTP requests served, by remote, route, artifact source and status class',
    labels: ['remote', 'route', 'source', 'status'],
  },
  requestDuration: {
    name: 'artifactcache_request_duration_seconds',
    type: 'histogram',
    help: 'Time to answer a request (to the last byte), by remote and route',
    labels: ['remote', 'route'],
    buckets: DURATION_BUCKETS,
  },
  cacheHits: {
    name: 'artifactcache_cache_hits_total',
    type: 'counter',
    help: 'Requests answered from storage',
    labels: ['remote'],
  },
  cacheMisses: {
    name: 'artifactcache_cache_misses_total',
    type: 'counter',
    help: 'Requests that needed an upstream fetch',
    labels: ['remote'],
  },
  staleServed: {
    name: 'artifactcache_stale_served_total',
    type: 'counter',
    help: 'Expired mutable files served because the upstream could not confirm them',
    labels: ['remote', 'reason'],
  },
  servedBytes: {
    name: 'artifactcache_served_bytes_total',
    type: 'counter',
    help: 'Bytes sent to clients, by remote and artifact source',
    labels: ['remote', 'source'],
  },
  fetchDuration: {
    name: 'artifactcache_fetch_duration_seconds',
    type: 'histogram',
    help: 'Upstream fetch duration, by remote and outcome',
    labels: ['remote', 'outcome'],
    buckets: FETCH_BUCKETS,
  },
  fetchedBytes: {
    name: 'artifactcache_fetched_bytes_total',
    type: 'counter',
    help: 'Bytes downloaded from upstreams',
    labels: ['remote'],
  },
  fetchFailures: {
    name: 'artifactcache_fetch_failures_total',
    type: 'counter',
    help: 'Failed upstream fetches, by remote and reason',
    labels: ['remote', 'reason'],
  },
  revalidations: {
    name: 'artifactcache_revalidations_total',
    type: 'counter',
    help: 'Conditional checks of expired mutable files, by result',
    labels: ['remote', 'result'],
  },
  queueJobs: {
    name: 'artifactcache_queue_jobs',
    type: 'gauge',
    help: 'Fetch jobs in the queue, by state',
    labels: ['state'],
  },
  storageBytes: {
    name: 'artifactcache_storage_bytes',
    type: 'gauge',
    help: 'Bytes of cached files held, by remote (from the records, after each eviction pass)',
    labels: ['remote'],
  },
  storageObjects: {
    name: 'artifactcache_storage_objects',
    type: 'gauge',
    help: 'Cached files held, by remote (from the records, after each eviction pass)',
    labels: ['remote'],
  },
  dedupSavedBytes: {
    name: 'artifactcache_dedup_saved_bytes',
    type: 'gauge',
    help: 'Bytes not stored again: a content that several cached or hosted files (or images) name is stored once (after each eviction pass)',
    labels: [],
  },
  remoteUp: {
    name: 'artifactcache_remote_up',
    type: 'gauge',
    help: 'Whether a proxy remote asks its upstream (1) or serves only what is cached (0)',
    labels: ['remote'],
  },
  upstreamRequests: {
    name: 'artifactcache_upstream_requests_total',
    type: 'counter',
    help: 'Requests sent to upstreams (redirect hops and token requests apart), by remote, method and status class',
    labels: ['remote', 'method', 'status'],
  },
  upstreamRateLimitRemaining: {
    name: 'artifactcache_upstream_ratelimit_remaining',
    type: 'gauge',
    help: "An upstream's remaining request budget, from its last rate-limit headers",
    labels: ['remote'],
  },
  upstreamRateLimitLimit: {
    name: 'artifactcache_upstream_ratelimit_limit',
    type: 'gauge',
    help: "An upstream's request budget per window, from its last rate-limit headers",
    labels: ['remote'],
  },
  upstreamRequestsSaved: {
    name: 'artifactcache_upstream_requests_saved_total',
    type: 'counter',
    help: 'Upstream requests the cache did not send, by remote and reason (hit, coalesced, tag_check)',
    labels: ['remote', 'reason'],
  },
  upstreamThrottled: {
    name: 'artifactcache_upstream_throttled_total',
    type: 'counter',
    help: "Upstream requests that had to wait for the remote's own limit, by remote and limit (max_requests_per_minute, max_concurrent)",
    labels: ['remote', 'limit'],
  },
  evictedBytes: {
    name: 'artifactcache_evicted_bytes_total',
    type: 'counter',
    help: 'Bytes of cached files evicted, by remote and reason',
    labels: ['remote', 'reason'],
  },
  inflightStreams: {
    name: 'artifactcache_inflight_streams_total',
    type: 'counter',
    help: "Cold misses a gateway streamed from a running fetch, by how: spool_file (read from the fetcher's spool file, same host) or http (the bytes over HTTP)",
    labels: ['via'],
  },
  collectedBytes: {
    name: 'artifactcache_collected_bytes_total',
    type: 'counter',
    help: 'Bytes of stored contents removed because no file had named them for storage.gc_grace',
    labels: [],
  },
} as const satisfies Record<string, MetricDefinition>;

/** The metrics' names, for InjectMetric. */
export const METRIC = Object.fromEntries(
  Object.entries(METRICS).map(([key, metric]) => [key, metric.name]),
) as { readonly [K in keyof typeof METRICS]: (typeof METRICS)[K]['name'] };

export type ArtifactSource = 'cache' | 'remote' | 'stale' | 'local';
/** `missing`: the upstream now answers 404 for a cached mutable file. */
export type RevalidationResult = 'unchanged' | 'changed' | 'unreachable' | 'missing' | 'throttled';
/**
 * Why no upstream request was needed: a cached copy answered, the request joined a fetch already
 * under way, or a tag's recent check answered its revalidation.
 */
export type SavedRequest = 'hit' | 'coalesced' | 'tag_check';
export type UpstreamLimit = 'max_requests_per_minute' | 'max_concurrent';
export type QueueState = 'waiting' | 'active' | 'delayed' | 'failed' | 'completed' | 'stalled';

/** Label value for requests that name no configured remote (keeps label sets bounded). */
export const NO_REMOTE = '-';
