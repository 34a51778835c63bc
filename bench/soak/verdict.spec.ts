import type { ProcessSample } from './process-stats';
import { DEFAULT_LIMITS, type ProcessSamples, verdict } from './verdict';

const sample = (rssMiB: number, fds: number): ProcessSample => ({
  rssKiB: rssMiB * 1024,
  fds,
  sockets: 0,
  files: 0,
  pipes: 0,
  other: 0,
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
});

const clean = { unexpected: 0, spoolLeftovers: 0, queuedJobs: 0 };

describe('verdict', () => {
  it.each<[string, Parameters<typeof verdict>[0], RegExp[]]>([
    ['flat and clean', { ...clean, processes: [proc([100, 50], [119, 60])] }, []],
    ['RSS shrank, fds fewer', { ...clean, processes: [proc([100, 50], [80, 40])] }, []],
    ['RSS up exactly 20%', { ...clean, processes: [proc([100, 50], [120, 50])] }, []],
    ['RSS up 21%', { ...clean, processes: [proc([100, 50], [121, 50])] }, [/RSS 121\.0 MiB/]],
    ['fds up by the slack', { ...clean, processes: [proc([100, 50], [100, 62])] }, []],
    [
      'fds up by more',
      { ...clean, processes: [proc([100, 50], [100, 63])] },
      [/63 open descriptors/],
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
      { unexpected: 3, spoolLeftovers: 1, queuedJobs: 1, processes: [proc([100, 50], [200, 100])] },
      [/unexpected/, /RSS/, /descriptors/, /spool/, /jobs/],
    ],
  ])('%s', (_name, input, expected) => {
    const failures = verdict(input, DEFAULT_LIMITS);
    expect(failures).toHaveLength(expected.length);
    expected.forEach((pattern, i) => expect(failures[i]).toMatch(pattern));
  });

  it('prints memory without judging it when told so', () => {
    const input = { ...clean, processes: [proc([100, 50], [200, 50])] };
    expect(verdict(input, { ...DEFAULT_LIMITS, judgeMemory: false })).toEqual([]);
  });
});
