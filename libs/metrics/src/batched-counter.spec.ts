import { Counter, Registry } from 'prom-client';
import { BatchedCounter, collectBatched } from './batched-counter';

function counterIn(registry: Registry): Counter<string> {
  return new Counter({
    name: 'test_requests_total',
    help: 'test',
    labelNames: ['remote', 'source'],
    registers: [registry],
    collect: collectBatched,
  });
}

describe('BatchedCounter', () => {
  it('counts every increment once, by label set, whenever the counter is read', async () => {
    const registry = new Registry();
    const counter = counterIn(registry);
    const batched = BatchedCounter.of(counter, ['remote', 'source']);
    expect(BatchedCounter.of(counter, ['remote', 'source'])).toBe(batched);
    batched.inc(['files', 'cache']);
    batched.inc(['files', 'cache'], 2);
    batched.inc(['files', 'remote']);
    batched.inc(['other', 'cache'], 4096);
    const values = async () =>
      Object.fromEntries(
        (await counter.get()).values.map(({ labels, value }) => [
          `${labels.remote}/${labels.source}`,
          value,
        ]),
      );
    expect(await values()).toEqual({ 'files/cache': 3, 'files/remote': 1, 'other/cache': 4096 });
    // Read again: nothing counted twice.
    expect(await values()).toEqual({ 'files/cache': 3, 'files/remote': 1, 'other/cache': 4096 });
    batched.inc(['files', 'cache']);
    expect(await registry.metrics()).toContain(
      'test_requests_total{remote="files",source="cache"} 4',
    );
  });

  it('leaves a counter that was never batched as it is', async () => {
    const registry = new Registry();
    const counter = counterIn(registry);
    counter.inc({ remote: 'files', source: 'cache' }, 5);
    expect((await counter.get()).values).toEqual([
      { labels: { remote: 'files', source: 'cache' }, value: 5 },
    ]);
  });
});
