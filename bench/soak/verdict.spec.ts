import type { ProcessSample } from './process-stats';
import { DEFAULT_LIMITS, type ProcessSamples, verdict } from './verdict';

const sample = (rssMiB: number, fds: number): ProcessSample => ({
  rssKiB: rssMiB * 1024,
  fds,
  sockets: 0,
  files: 0,
  pipes: 0,
  other: 0,
  peers: {},
});

const proc = (
  warm: [number, number],
  end: [number, number],
  files: [number, number] = [4, 4],
): ProcessSamples => ({
  name: 'gateway-0',
  start: sample(50, 20),
  warm: { ...sample(...warm), files: files[0] },
  end: { ...sample(...end), files: files[1] },
  warmWindow: window(warm[0]),
  endWindow: window(end[0]),
});

const window = (rssMiB: number) => ({
  minKiB: rssMiB * 1024,
  medianKiB: rssMiB * 1024,
  maxKiB: rssMiB * 1024,
  samples: 10,
});

/** `end` with `peers` among its descriptors (the warm sample has none of them) */
const pooled = (p: ProcessSamples, peers: Record<string, number>): ProcessSamples => ({
  ...p,
  end: { ...p.end, peers },
});

const clean = { unexpected: 0, spoolLeftovers: 0, queuedJobs: 0 };

describe('verdict', () => {
  it.each<[string, Parameters<typeof verdict>[0], RegExp[]]>([
    ['flat and clean', { ...clean, processes: [proc([100, 50], [119, 51])] }, []],
    ['RSS shrank, fds fewer', { ...clean, processes: [proc([100, 50], [80, 40])] }, []],
    ['RSS up exactly 20%', { ...clean, processes: [proc([100, 50], [120, 50])] }, []],
    [
      'RSS up 21%',
      { ...clean, processes: [proc([100, 50], [121, 50])] },
      [/lowest RSS 121\.0 MiB/],
    ],
    ['fds up by the slack', { ...clean, processes: [proc([100, 50], [100, 52])] }, []],
    [
      'fds up by more',
      { ...clean, processes: [proc([100, 50], [100, 53])] },
      [/53 open descriptors outside keep-alive pools/],
    ],
    [
      'more sockets in keep-alive pools',
      { ...clean, processes: [pooled(proc([100, 50], [100, 90]), { '→fetcher': 40 })] },
      [],
    ],
    [
      'more Redis connections',
      {
        ...clean,
        processes: [pooled(proc([100, 50], [100, 60]), { '→fetcher': 5, '→redis': 5 })],
      },
      [/55 open descriptors/],
    ],
    [
      'one more regular file open',
      { ...clean, processes: [proc([100, 50], [100, 51], [4, 5])] },
      [/5 regular files open/],
    ],
    ['one unexpected answer', { ...clean, unexpected: 1, processes: [] }, [/1 unexpected/]],
    ['a spool file left', { ...clean, spoolLeftovers: 2, processes: [] }, [/2 spool files/]],
    ['a job left', { ...clean, queuedJobs: 1, processes: [] }, [/1 fetch jobs/]],
    [
      'everything at once',
      {
        unexpected: 3,
        spoolLeftovers: 1,
        queuedJobs: 1,
        processes: [proc([100, 50], [200, 100], [4, 5])],
      },
      [/unexpected/, /RSS/, /descriptors/, /regular files/, /spool/, /jobs/],
    ],
  ])('%s', (_name, input, expected) => {
    const failures = verdict(input, DEFAULT_LIMITS);
    expect(failures).toHaveLength(expected.length);
    expected.forEach((pattern, i) => expect(failures[i]).toMatch(pattern));
  });

  it('judges the lowest RSS of the windows: peaks of the GC sawtooth are no leak', () => {
    const sawtooth = {
      ...proc([100, 50], [100, 50]),
      endWindow: { minKiB: 110 * 1024, medianKiB: 160 * 1024, maxKiB: 200 * 1024, samples: 75 },
    };
    expect(verdict({ ...clean, processes: [sawtooth] }, DEFAULT_LIMITS)).toEqual([]);
  });

  it('judges memory on the windows, not on the idle samples', () => {
    const spike = { ...proc([100, 50], [100, 50]), end: sample(300, 50) };
    expect(verdict({ ...clean, processes: [spike] }, DEFAULT_LIMITS)).toEqual([]);
  });

  it('fails when a window has no samples', () => {
    const empty = { ...proc([100, 50], [100, 50]), endWindow: { ...window(0), minKiB: NaN } };
    expect(verdict({ ...clean, processes: [empty] }, DEFAULT_LIMITS)).toHaveLength(1);
  });

  it('prints memory without judging it when told so', () => {
    const input = { ...clean, processes: [proc([100, 50], [200, 50])] };
    expect(verdict(input, { ...DEFAULT_LIMITS, judgeMemory: false })).toEqual([]);
  });
});
