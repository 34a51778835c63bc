/** SPEC §6. Labels are bounded: remote names come from config, never from a URL as typed. */
export const METRIC = {
  requests: 'artifactcache_requests_total',
  requestDuration: 'artifactcache_request_duration_seconds',
  cacheHits: 'artifactcache_cache_hits_total',
  cacheMisses: 'artifactcache_cache_misses_total',
  staleServed: 'artifactcache_stale_served_total',
  servedBytes: 'artifactcache_served_bytes_total',
  fetchDuration: 'artifactcache_fetch_duration_seconds',
  fetchedBytes: 'artifactcache_fetched_bytes_total',
  fetchFailures: 'artifactcache_fetch_failures_total',
  revalidations: 'artifactcache_revalidations_total',
  queueJobs: 'artifactcache_queue_jobs',
} as const;

export type ArtifactSource = 'cache' | 'remote' | 'stale' | 'local';
/** `missing`: the upstream now answers 404 for a cached mutable file. */
export type RevalidationResult = 'unchanged' | 'changed' | 'unreachable' | 'missing';
export type QueueState = 'waiting' | 'active' | 'delayed' | 'failed' | 'completed' | 'stalled';

/** Label value for requests that name no configured remote (keeps label sets bounded). */
export const NO_REMOTE = '-';
