import type { RemoteTraffic } from '@app/metrics';
import { hitRatio, requestCount, sumTraffic, trafficGrowth } from './traffic';

const traffic = (requests: Record<string, number>, bytes = 0): RemoteTraffic => ({
  requests,
  bytes,
});

describe('trafficGrowth', () => {
  it.each([
    ['nothing served yet', [], [], []],
    [
      'a first count',
      [],
      [['hub', traffic({ cache: 3 }, 100)]],
      [
        ['hub\0cache', 3],
        ['hub\0bytes', 100],
      ],
    ],
    [
      'only what grew',
      [['hub', traffic({ cache: 3, remote: 1 }, 100)]],
      [['hub', traffic({ cache: 5, remote: 1 }, 100)]],
      [['hub\0cache', 2]],
    ],
    [
      'a new source and a new remote',
      [['hub', traffic({ cache: 3 })]],
      [
        ['hub', traffic({ cache: 3, stale: 1 })],
        ['files', traffic({ none: 2 }, 0)],
      ],
      [
        ['hub\0stale', 1],
        ['files\0none', 2],
      ],
    ],
  ] as Array<
    [
      string,
      Array<[string, RemoteTraffic]>,
      Array<[string, RemoteTraffic]>,
      Array<[string, number]>,
    ]
  >)('%s', (_case, before, now, grown) => {
    expect(trafficGrowth(new Map(before), new Map(now))).toEqual(grown);
  });
});

describe('sumTraffic', () => {
  it('adds up the minutes per remote, requests by source and bytes', () => {
    const totals = sumTraffic([
      { 'hub\0cache': '3', 'hub\0bytes': '100' },
      {},
      { 'hub\0cache': '2', 'hub\0remote': '1', 'hub\0bytes': '50', 'files\0local': '4' },
    ]);
    expect(Object.fromEntries(totals)).toEqual({
      hub: traffic({ cache: 5, remote: 1 }, 150),
      files: traffic({ local: 4 }),
    });
  });

  it('reads back what trafficGrowth writes', () => {
    const now = new Map([['hub', traffic({ cache: 2, none: 1 }, 10)]]);
    const minute = Object.fromEntries(
      trafficGrowth(new Map(), now).map(([field, by]) => [field, String(by)]),
    );
    expect(sumTraffic([minute])).toEqual(now);
  });
});

describe('hitRatio', () => {
  it.each([
    ['no requests', {}, null],
    ['only hosted files', { local: 7 }, null],
    ['only errors', { none: 3 }, null],
    ['all hits', { cache: 4 }, 1],
    ['stale copies count as hits', { cache: 1, stale: 1, remote: 2 }, 0.5],
    ['errors left out', { remote: 1, none: 9 }, 0],
  ] as Array<[string, Record<string, number>, number | null]>)('%s', (_case, requests, ratio) => {
    expect(hitRatio(traffic(requests))).toBe(ratio);
  });
});

describe('requestCount', () => {
  it('counts every source, errors included', () => {
    expect(requestCount(traffic({ cache: 2, remote: 1, none: 3 }))).toBe(6);
  });
});
