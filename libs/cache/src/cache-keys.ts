/**
 * Redis key layout. Everything here can be rebuilt (docs/ARCHITECTURE.md): losing it costs a revalidation or a
 * refetch, never data. Remote names cannot contain ':' or glob characters (config validates them),
 * so `<kind>:<remote>:*` selects one remote.
 */
export const CACHE_KEY_KINDS = ['fresh', 'validators', 'missing', 'tag-check'] as const;
export type CacheKeyKind = (typeof CACHE_KEY_KINDS)[number];

const ROOT = 'ac';

export function cacheKey(kind: CacheKeyKind, remote: string, path: string): string {
  return `${ROOT}:${kind}:${remote}:${path}`;
}

export function remotePattern(kind: CacheKeyKind, remote: string | null): string {
  return `${ROOT}:${kind}:${remote ?? '*'}:*`;
}

/**
 * Pub/sub channel on which a process that removed stored objects publishes what it removed, so
 * every gateway drops its in-memory copies of them at once: a message is one key prefix (a flush,
 * a purge), or several exact keys, one per line (an eviction pass's page). Keys never hold a line
 * break: paths with control characters are refused.
 */
export const STORAGE_DROPPED_CHANNEL = `${ROOT}:storage-dropped`;

/**
 * Set while an admin has switched a remote offline (its value: since when, ISO 8601); unlike the
 * other keys it is not rebuilt by itself: losing it brings the remote back online.
 */
export function offlineKey(remote: string): string {
  return `${ROOT}:offline:${remote}`;
}

/** Recent upstream failures of a remote (its circuit breaker's count). */
export function circuitFailuresKey(remote: string): string {
  return `${ROOT}:circuit-failures:${remote}`;
}

/** Set while a remote's circuit is open (its value: since when), expiring after open_for. */
export function circuitOpenKey(remote: string): string {
  return `${ROOT}:circuit:${remote}`;
}

/** A remote's request budget (max_requests_per_minute): a token bucket, as a hash. */
export function budgetKey(remote: string): string {
  return `${ROOT}:budget:${remote}`;
}

/** What a remote's upstream said of its budget in its last RateLimit headers (a hash). */
export function advertisedLimitKey(remote: string): string {
  return `${ROOT}:advertised-limit:${remote}`;
}

/** The upstream requests of a remote open now (max_concurrent): a sorted set of leases. */
export function slotsKey(remote: string): string {
  return `${ROOT}:slots:${remote}`;
}

/**
 * What the gateways served in one minute (unix minutes), for the console's last hour: a hash of
 * `<remote>\0<source>` → requests and `<remote>\0bytes` → bytes, kept two hours.
 */
export function trafficMinuteKey(minute: number): string {
  return `${ROOT}:traffic:${minute}`;
}
