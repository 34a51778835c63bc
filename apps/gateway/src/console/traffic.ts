import type { RemoteTraffic } from '@app/metrics';

/** A hash field of a traffic minute: `<remote>\0<source>` (requests) or `<remote>\0bytes`. */
const SEPARATOR = '\0';
const BYTES = 'bytes';

/** The hash fields to add to and by how much, for what a process served since `before`. */
export function trafficGrowth(
  before: ReadonlyMap<string, RemoteTraffic>,
  now: ReadonlyMap<string, RemoteTraffic>,
): Array<[string, number]> {
  const grown: Array<[string, number]> = [];
  for (const [remote, traffic] of now) {
    const was = before.get(remote);
    for (const [source, count] of Object.entries(traffic.requests)) {
      const by = count - (was?.requests[source] ?? 0);
      if (by > 0) {
        grown.push([`${remote}${SEPARATOR}${source}`, by]);
      }
    }
    const bytes = traffic.bytes - (was?.bytes ?? 0);
    if (bytes > 0) {
      grown.push([`${remote}${SEPARATOR}${BYTES}`, bytes]);
    }
  }
  return grown;
}

/** Sums minutes' hashes (as HGETALL returns them) into each remote's traffic. */
export function sumTraffic(
  minutes: ReadonlyArray<Record<string, string>>,
): Map<string, RemoteTraffic> {
  const totals = new Map<string, RemoteTraffic>();
  for (const minute of minutes) {
    for (const [field, value] of Object.entries(minute)) {
      const at = field.indexOf(SEPARATOR);
      const remote = field.slice(0, at);
      const what = field.slice(at + 1);
      const traffic = totals.get(remote) ?? { requests: {}, bytes: 0 };
      totals.set(remote, traffic);
      if (what === BYTES) {
        traffic.bytes += Number(value);
      } else {
        traffic.requests[what] = (traffic.requests[what] ?? 0) + Number(value);
      }
    }
  }
  return totals;
}

/**
 * The share of artifact requests answered from the cache (fresh or stale) rather than fetched
 * upstream; null when there were none (a hosted remote's are all `local`).
 */
export function hitRatio(traffic: RemoteTraffic): number | null {
  const hits = (traffic.requests.cache ?? 0) + (traffic.requests.stale ?? 0);
  const fetched = traffic.requests.remote ?? 0;
  return hits + fetched === 0 ? null : hits / (hits + fetched);
}

/** Every request, errors included. */
export function requestCount(traffic: RemoteTraffic): number {
  return Object.values(traffic.requests).reduce((sum, n) => sum + n, 0);
}
