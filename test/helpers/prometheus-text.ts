import { waitFor } from '../../tools/wait-for';

/**
 * Reads one metric from Prometheus text: the sum of the samples named `name` whose labels include
 * every pair in `labels`. 0 when there is none.
 */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) {
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) {
      continue;
    }
    const present = parseLabels(match[2] ?? '');
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) {
      sum += Number(match[3]);
    }
  }
  return sum;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let found = pattern.exec(text); found; found = pattern.exec(text)) {
    labels[found[1]] = found[2];
  }
  return labels;
}

/**
 * A metric once its sum over `sources` (each a scrape: a gateway's or a fetcher's /metrics)
 * reached `atLeast`, which the caller then checks exactly. Counters are recorded when a response
 * is done, a moment after the client read its last byte, and a fetcher's after it released its
 * clients. Fails with the last value seen when it never gets there.
 */
export async function metricReaching(
  sources: ReadonlyArray<() => Promise<string>>,
  name: string,
  labels: Record<string, string>,
  atLeast: number,
): Promise<number> {
  const { value } = await waitFor(
    async () => {
      const texts = await Promise.all(sources.map((scrape) => scrape()));
      const read = texts.reduce((sum, text) => sum + metricValue(text, name, labels), 0);
      if (read < atLeast) {
        throw new Error(`read ${read}`);
      }
      return { value: read };
    },
    {
      description: `${name} ${JSON.stringify(labels)} ≥ ${atLeast}`,
      timeoutMs: 15_000,
      intervalMs: 100,
    },
  );
  return value;
}
