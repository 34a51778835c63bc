import type { Counter, LabelValues } from 'prom-client';

interface Cell {
  labels: LabelValues<string>;
  pending: number;
}

/** Each counter's batches, found by the counter when it is read. */
const batchesOf = new WeakMap<Counter<string>, BatchedCounter>();

/**
 * A counter's `collect`: prom-client calls it whenever the counter is read (a scrape, the
 * cluster's sum, the console's traffic), so what is pending is counted before anyone looks.
 */
export function collectBatched(this: Counter<string>): void {
  batchesOf.get(this)?.flush();
}

/**
 * Increments of a counter on the hit path, gathered in plain numbers until the counter is read.
 * prom-client turns an increment's labels into a key and checks them each time, and a 4 KiB hit
 * makes four increments: a measurable share of its CPU. Here the labels' values find their cell
 * through maps keyed by the (interned) strings the callers already hold. Readers cannot tell the
 * difference: the counter's collect (collectBatched) adds what is pending before every read.
 */
export class BatchedCounter {
  private readonly root = new Map<string, unknown>();
  private readonly cells: Cell[] = [];

  constructor(
    private readonly counter: Counter<string>,
    private readonly labelNames: readonly string[],
  ) {
    batchesOf.set(counter, this);
  }

  /** `values` in the order of the label names given to the constructor. */
  inc(values: readonly string[], by = 1): void {
    this.cellOf(values).pending += by;
  }

  flush(): void {
    for (const cell of this.cells) {
      if (cell.pending > 0) {
        const pending = cell.pending;
        cell.pending = 0;
        this.counter.inc(cell.labels, pending);
      }
    }
  }

  private cellOf(values: readonly string[]): Cell {
    let level = this.root;
    const last = this.labelNames.length - 1;
    for (let i = 0; i < last; i += 1) {
      let next = level.get(values[i]) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map<string, unknown>();
        level.set(values[i], next);
      }
      level = next;
    }
    let cell = level.get(values[last]) as Cell | undefined;
    if (cell === undefined) {
      const labels: LabelValues<string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      cell = { labels, pending: 0 };
      level.set(values[last], cell);
      this.cells.push(cell);
    }
    return cell;
  }
}
