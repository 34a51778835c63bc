import type { IncomingMessage } from 'node:http';

/** Bounded metric labels of a request, set by the route that understood it. */
export interface RequestLabels {
  remote: string;
  route: string;
}

const labels = new WeakMap<IncomingMessage, RequestLabels>();

export function labelRequest(request: IncomingMessage, value: RequestLabels): void {
  labels.set(request, value);
}

export function labelsOf(request: IncomingMessage): RequestLabels | undefined {
  return labels.get(request);
}

/** The route label of a /v2 path (after `/v2/`). */
export function registryRouteOf(rest: string): string {
  if (rest.includes('/manifests/')) {
    return 'manifest';
  }
  if (rest.includes('/blobs/')) {
    return 'blob';
  }
  return rest.endsWith('/tags/list') ? 'tags' : 'registry';
}

/** The route label of a request no route labelled (health, metrics, admin, ...). */
export function routeOf(url: string): string {
  const path = url.split('?')[0];
  if (path === '/' || path === '/health' || path === '/metrics' || path === '/config') {
    return path === '/' ? 'root' : path.slice(1);
  }
  if (path.startsWith('/v2')) {
    return 'registry';
  }
  if (path.startsWith('/cache/')) {
    return 'flush';
  }
  if (path.startsWith('/admin')) {
    return 'admin';
  }
  return 'other';
}
