import type { MemoryAfterGc, ProcessSample } from './process-stats';
import { DEFAULT_LIMITS, type ProcessSamples, type VerdictInput, verdict } from './verdict';

const sample = (
  rssMiB: number,
  fds: number,
  peers: Record<string, number> = {},
): ProcessSample => ({
  rssKiB: rssMiB * 1024,
  fds,
  sockets: 0,
  files: 4,
  pipes: 0,
  other: 0,
  peers,
});

const afterGc = (rssMiB: number): MemoryAfterGc => ({
  rssKiB: rssMiB * 1024,
  heapKiB: 50 * 1024,
  externalKiB: 5 * 1024,
});

/** warm and end: [RSS after GC in MiB, descriptors] */
const proc = (warm: [number, number], end: [number, number]): ProcessSamples => ({
  name: 'gateway-0',
  start: sample(50, 20),
  warm: sample(300, warm[1]),
  end: sample(300, end[1]),
  startGc: afterGc(50),
  warmGc: afterGc(warm[0]),
  endGc: afterGc(end[0]),
});

const withEnd = (p: ProcessSamples, end: Partial<ProcessSample>): ProcessSamples => ({
  ...p,
  end: { ...p.end, ...end },
});

const clean: Omit<VerdictInput, 'processes'> = {
  unexpected: 0,
  spoolLeftovers: 0,
  queuedJobs: 0,
  fdsClosedByGc: 0,
};

describe('verdict', () => {
  it.each<[string, VerdictInput, RegExp[]]>([
    ['flat and clean', { ...clean, processes: [proc([100, 50], [119, 51])] }, []],
    ['RSS shrank, fewer fds', { ...clean, processes: [proc([100, 50], [80, 40])] }, []],
    ['RSS up exactly 20%', { ...clean, processes: [proc([100, 50], [120, 50])] }, []],
    [
      'RSS up 21%',
      { ...clean, processes: [proc([100, 50], [121, 50])] },
      [/RSS 121\.0 MiB after a full GC/],
    ],
    ['fds up by the slack', { ...clean, processes: [proc([100, 50], [100, 52])] }, []],
    [
      'fds up by more',
      { ...clean, processes: [proc([100, 50], [100, 53])] },
      [/53 open descriptors outside keep-alive pools/],
    ],
    [
      'more sockets in keep-alive pools',
      { ...clean, processes: [withEnd(proc([100, 50], [100, 90]), { peers: { '→fetcher': 40 } })] },
      [],
    ],
    [
      'more Redis connections',
      {
        ...clean,
        processes: [withEnd(proc([100, 50], [100, 60]), { peers: { '→fetcher': 5, '→redis': 5 } })],
      },
      [/55 open descriptors/],
    ],
    [
      'one more regular file open',
      { ...clean, processes: [withEnd(proc([100, 50], [100, 51]), { files: 5 })] },
      [/5 regular files open/],
    ],
    ['one unexpected answer', { ...clean, unexpected: 1, processes: [] }, [/1 unexpected/]],
    ['a spool file left', { ...clean, spoolLeftovers: 2, processes: [] }, [/2 spool files/]],
    ['a job left', { ...clean, queuedJobs: 1, processes: [] }, [/1 fetch jobs/]],
    [
      'a file handle left to the garbage collector',
      { ...clean, fdsClosedByGc: 1, processes: [] },
      [/1 file handles were left open/],
    ],
    [
      'everything at once',
      {
        unexpected: 3,
        spoolLeftovers: 1,
        queuedJobs: 1,
        fdsClosedByGc: 1,
        processes: [withEnd(proc([100, 50], [200, 100]), { files: 5 })],
      },
      [/unexpected/, /RSS/, /descriptors/, /regular files/, /spool/, /garbage/, /jobs/],
    ],
  ])('%s', (_name, input, expected) => {
    const failures = verdict(input, DEFAULT_LIMITS);
    expect(failures).toHaveLength(expected.length);
    expected.forEach((pattern, i) => expect(failures[i]).toMatch(pattern));
  });

  it('judges memory after a full GC, not the idle RSS (a point on the GC sawtooth)', () => {
    const sawtooth = withEnd(proc([100, 50], [100, 50]), { rssKiB: 300 * 1024 });
    expect(verdict({ ...clean, processes: [sawtooth] }, DEFAULT_LIMITS)).toEqual([]);
  });

  it('prints memory without judging it when told so', () => {
    const input = { ...clean, processes: [proc([100, 50], [200, 50])] };
    expect(verdict(input, { ...DEFAULT_LIMITS, judgeMemory: false })).toEqual([]);
  });
});
