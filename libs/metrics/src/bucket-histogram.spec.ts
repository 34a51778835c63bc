import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { BucketHistogram } from './bucket-histogram';

const options = {
  name: 'test_request_duration_seconds',
  help: 'test',
  labelNames: ['remote', 'route'],
  buckets: [0.001, 0.005, 0.05, 0.5, 5],
};

/** [remote, route, seconds]: on a bound, between bounds, above them all, a second series. */
const OBSERVATIONS: [string, string, number][] = [
  ['files', 'artifact', 0.0004],
  ['files', 'artifact', 0.001],
  ['files', 'artifact', 0.0031],
  ['files', 'artifact', 0.7],
  ['files', 'artifact', 12],
  ['hub', 'blob', 0.02],
  ['files', 'artifact', 0],
];

function both(): { ours: Registry; theirs: Registry; histogram: BucketHistogram } {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = BucketHistogram.of(options, ours);
  const reference = new Histogram({ ...options, registers: [theirs] });
  for (const [remote, route, seconds] of OBSERVATIONS) {
    histogram.observe([remote, route], seconds);
    reference.observe({ remote, route }, seconds);
  }
  return { ours, theirs, histogram };
}

describe('BucketHistogram', () => {
  it("gives the registry what prom-client's Histogram gives for the same observations", async () => {
    const { ours, theirs } = both();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // (prom-client's carries `exemplar: undefined` on each value, which JSON leaves out)
    const json = async (registry: Registry) =>
      JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as unknown;
    expect(await json(ours)).toEqual(await json(theirs));
  });

  it("sums across processes as prom-client's cluster registry does", async () => {
    const { ours, theirs } = both();
    const summed = (registry: Registry) =>
      registry
        .getMetricsAsJSON()
        .then((json) => AggregatorRegistry.aggregate([json, json]).metrics());
    expect(await summed(ours)).toBe(await summed(theirs));
  });

  it('is one per name in a registry, and refuses what is not a number', () => {
    const { ours, histogram } = both();
    expect(BucketHistogram.of(options, ours)).toBe(histogram);
    expect(() => histogram.observe(['files', 'artifact'], Number.NaN)).toThrow(TypeError);
  });

  it('starts over on reset', async () => {
    const { ours, histogram } = both();
    histogram.reset();
    expect(await ours.metrics()).not.toContain('files');
  });
});
