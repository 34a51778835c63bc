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
