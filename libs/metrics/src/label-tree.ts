/**
 * A metric's series by label values, found through one map per label keyed by the strings the
 * callers already hold (interned, their hashes cached): no key is built per observation.
 */
export class LabelTree<T> {
  private root = new Map<string, unknown>();
  private readonly all: T[] = [];

  constructor(
    private readonly labelNames: readonly string[],
    private readonly create: (labels: Record<string, string>) => T,
  ) {}

  /** The series of `values` (in the order of the label names), made on first use. */
  find(values: readonly string[]): T {
    let level = this.root;
    const last = Math.max(this.labelNames.length - 1, 0);
    for (let i = 0; i < last; i += 1) {
      let next = level.get(values[i]) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map<string, unknown>();
        level.set(values[i], next);
      }
      level = next;
    }
    const key = values[last] ?? '';
    let series = level.get(key) as T | undefined;
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      series = this.create(labels);
      level.set(key, series);
      this.all.push(series);
    }
    return series;
  }

  /** Every series made so far, in the order they were made. */
  series(): readonly T[] {
    return this.all;
  }

  clear(): void {
    this.root = new Map();
    this.all.length = 0;
  }
}
