import type { WarmItem, WarmProgress } from '@app/jobs';

/** A warm-up as GET /admin/api/warm/{id} shows it. */
export interface WarmView {
  id: string;
  state: 'waiting' | 'active' | 'completed' | 'failed';
  requested_at: string;
  finished_at: string | null;
  progress: WarmProgress;
  /** every file, manifest and blob, once done */
  items: WarmItem[] | null;
  /** why the warm-up itself failed (Redis lost, a fetcher's crash past its retries) */
  error: string | null;
  /** the same for a terminal: one line, then one per failed item */
  summary: string;
}

export type WarmFacts = Omit<WarmView, 'summary'>;

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

function size(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** The view with its summary. */
export function warmView(facts: WarmFacts): WarmView {
  const { progress } = facts;
  const done = progress.fetched + progress.cached + progress.failed;
  const counts = `${progress.fetched} fetched, ${progress.cached} cached, ${progress.failed} failed; ${size(progress.bytes)}`;
  const head =
    facts.state === 'completed'
      ? `warm-up ${facts.id} completed: ${done} items (${counts})`
      : facts.state === 'failed'
        ? `warm-up ${facts.id} failed after ${done} of ${progress.total} items (${counts}): ${facts.error ?? 'no reason given'}`
        : `warm-up ${facts.id} ${facts.state}: ${done} of ${progress.total} items so far (${counts})`;
  const failures = (facts.items ?? [])
    .filter((item) => item.outcome === 'failed')
    .map((item) => `failed ${item.remote}/${item.path}: ${item.error ?? 'no reason given'}`);
  return { ...facts, summary: [head, ...failures].join('\n') };
}
