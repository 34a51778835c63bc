import { type Metric, type MetricValueWithName, type Registry, register } from 'prom-client';
import { LabelTree } from './label-tree';

interface Series {
  labels: Record<string, string>;
  /** observations per bucket (not cumulative); those above every bound are only in `count` */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** One value as prom-client's own histogram gives it (a bucket's exemplar is null). */
type HistogramValue = MetricValueWithName<string> & { exemplar?: null };

/** What prom-client's registry reads of a histogram (scrapes, the cluster's sum). */
export interface HistogramData {
  name: string;
  help: string;
  type: 'histogram';
  values: HistogramValue[];
  aggregator: 'sum';
}

/**
 * A Prometheus histogram whose observation costs a few array writes: the label values find their
 * series in a LabelTree, and the buckets are an array.
 * prom-client's Histogram turns the labels into a key, checks them and finds the bucket by its
 * name on every observation: ~2 µs of a 4 KiB hit's ~24 µs of CPU at 32 connections, where the
 * request duration is observed for every hit. The registry reads the same series from it as
 * from prom-client's own (bucket-histogram.spec.ts compares them).
 */
export class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: LabelTree<Series>;

  /** The one registered under `name`, or a new one registered there. */
  static of(
    options: {
      name: string;
      help: string;
      labelNames: readonly string[];
      buckets: readonly number[];
    },
    registry: Registry = register,
  ): BucketHistogram {
    const existing = registry.getSingleMetric(options.name) as unknown;
    if (existing instanceof BucketHistogram) {
      return existing;
    }
    const histogram = new BucketHistogram(
      options.name,
      options.help,
      options.labelNames,
      [...options.buckets].sort((a, b) => a - b),
    );
    registry.registerMetric(histogram as unknown as Metric);
    return histogram;
  }

  private constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    private readonly upperBounds: readonly number[],
  ) {
    this.series = new LabelTree(labelNames, (labels) => ({
      labels,
      counts: new Float64Array(upperBounds.length),
      sum: 0,
      count: 0,
    }));
  }

  /** `values` in the order of the label names. */
  observe(values: readonly string[], value: number): void {
    if (!Number.isFinite(value)) {
      throw new TypeError(`${this.name}: not a finite number: ${value}`);
    }
    const series = this.series.find(values);
    const bounds = this.upperBounds;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]) {
      bucket += 1;
    }
    if (bucket < bounds.length) {
      series.counts[bucket] += 1;
    }
    series.sum += value;
    series.count += 1;
  }

  get(): Promise<HistogramData> {
    const values: HistogramValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const { labels, counts, sum, count } of this.series.series()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += counts[i];
        values.push({
          labels: { le, ...labels },
          value: cumulative,
          metricName: bucketName,
          exemplar: null,
        });
      });
      values.push(
        { labels: { le: '+Inf', ...labels }, value: count, metricName: bucketName, exemplar: null },
        { labels: { ...labels }, value: sum, metricName: `${this.name}_sum` },
        { labels: { ...labels }, value: count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  reset(): void {
    this.series.clear();
  }
}
