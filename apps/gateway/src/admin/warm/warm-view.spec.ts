import type { WarmProgress } from '@app/jobs';
import { type WarmFacts, warmView } from './warm-view';

const progress = (p: Partial<WarmProgress>): WarmProgress => ({
  total: 0,
  fetched: 0,
  cached: 0,
  failed: 0,
  bytes: 0,
  ...p,
});
const facts = (f: Partial<WarmFacts>): WarmFacts => ({
  id: 'w1',
  state: 'active',
  requested_at: '2026-12-02T10:00:00.000Z',
  finished_at: null,
  progress: progress({}),
  items: null,
  error: null,
  ...f,
});

describe('warmView summary', () => {
  it.each([
    [
      facts({ state: 'waiting' }),
      'warm-up w1 waiting: 0 of 0 items so far (0 fetched, 0 cached, 0 failed; 0 bytes)',
    ],
    [
      facts({ progress: progress({ total: 12, fetched: 3, cached: 2, bytes: 1536 }) }),
      'warm-up w1 active: 5 of 12 items so far (3 fetched, 2 cached, 0 failed; 1.5 KiB)',
    ],
    [
      facts({
        state: 'completed',
        progress: progress({ total: 3, fetched: 1, cached: 1, failed: 1, bytes: 5 * 1024 ** 3 }),
        items: [
          { remote: 'files', path: 'a.bin', outcome: 'fetched', size: 1 },
          { remote: 'files', path: 'b.bin', outcome: 'cached', size: 2 },
          {
            remote: 'files',
            path: 'gone.bin',
            outcome: 'failed',
            error: 'upstream_not_found: 404',
          },
        ],
      }),
      'warm-up w1 completed: 3 items (1 fetched, 1 cached, 1 failed; 5.0 GiB)\nfailed files/gone.bin: upstream_not_found: 404',
    ],
    [
      facts({
        state: 'failed',
        progress: progress({ total: 4, fetched: 1 }),
        error: 'Redis went away',
      }),
      'warm-up w1 failed after 1 of 4 items (1 fetched, 0 cached, 0 failed; 0 bytes): Redis went away',
    ],
  ])('%#', (given, summary) => {
    expect(warmView(given).summary).toBe(summary);
  });
});
