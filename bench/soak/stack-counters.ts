import { METRIC } from '@app/metrics/metric-names';
import { metricValue } from '../../test/helpers/prometheus-text';
import type { AppProcess, Stack } from '../../test/helpers/stack';

interface StackCounter {
  label: string;
  kind: 'fetcher' | 'gateway';
  metric: string;
  labels: Record<string, string>;
}

const each = (values: readonly string[], make: (value: string) => StackCounter): StackCounter[] =>
  values.map(make);

/** What the stack counted itself (fetch outcomes, revalidations, stale answers): its /metrics. */
const STACK_COUNTERS: readonly StackCounter[] = [
  ...each(['stored', 'unchanged', 'stale', 'failed'], (outcome) => ({
    label: `fetches ${outcome}`,
    kind: 'fetcher',
    metric: `${METRIC.fetchDuration}_count`,
    labels: { outcome },
  })),
  ...each(['unchanged', 'changed', 'missing', 'unreachable'], (result) => ({
    label: `revalidations ${result}`,
    kind: 'fetcher',
    metric: METRIC.revalidations,
    labels: { result },
  })),
  ...each(
    ['upstream_not_found', 'upstream_unavailable', 'upstream_integrity', 'storage_unavailable'],
    (reason) => ({
      label: `fetch failures ${reason}`,
      kind: 'fetcher',
      metric: METRIC.fetchFailures,
      labels: { reason },
    }),
  ),
  { label: 'cache hits', kind: 'gateway', metric: METRIC.cacheHits, labels: {} },
  { label: 'cache misses', kind: 'gateway', metric: METRIC.cacheMisses, labels: {} },
  { label: 'stale answers', kind: 'gateway', metric: METRIC.staleServed, labels: {} },
];

export async function stackCounters(stack: Stack): Promise<Array<[string, number]>> {
  const scrape = (apps: readonly AppProcess[]) =>
    Promise.all(apps.map(async (app) => (await fetch(`${app.url}/metrics`)).text()));
  const texts = { fetcher: await scrape(stack.fetchers), gateway: await scrape(stack.gateways) };
  return STACK_COUNTERS.map(({ label, kind, metric, labels }) => [
    `${label} (${kind}s)`,
    texts[kind].reduce((sum, text) => sum + metricValue(text, metric, labels), 0),
  ]);
}
