import { formatLogLine } from '@app/common';
import type { AppConfig } from '@app/config';
import { type AccessEntry, RequestLog } from './request-log';

const entry: AccessEntry = {
  requestId: 'build-17',
  method: 'GET',
  path: '/api/v1/remote/files/a "quoted" \\ name.bin',
  remote: 'files',
  route: 'artifact',
  source: 'cache',
  status: 200,
  bytes: 4096,
  completed: true,
  seconds: 0.000412,
};

function written(format: 'json' | 'text', write: (log: RequestLog) => void): string {
  const config = { log: { level: 'info', format, access: true } } as unknown as AppConfig;
  const log = new RequestLog(config);
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    write(log);
    log.flush();
    return out.mock.calls.map(([text]) => String(text)).join('');
  } finally {
    out.mockRestore();
    log.onApplicationShutdown();
  }
}

describe('RequestLog', () => {
  it('writes an access line as one JSON object, whatever the path holds', () => {
    const lines = written('json', (log) => log.access(entry))
      .split('\n')
      .filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: 'info',
      app: 'gateway',
      context: 'access',
      msg: `GET ${entry.path} 200`,
      request_id: 'build-17',
      method: 'GET',
      path: entry.path,
      remote: 'files',
      route: 'artifact',
      source: 'cache',
      status: 200,
      bytes: 4096,
      completed: true,
      ms: 0.412,
    });
  });

  it('writes a declared length of none as null, and text on a terminal', () => {
    const json = written('json', (log) => log.access({ ...entry, bytes: null, completed: false }));
    expect(JSON.parse(json)).toMatchObject({ bytes: null, completed: false });
    const text = written('text', (log) => log.access(entry));
    expect(text).toMatch(
      / INFO {2}gateway \[access\] GET .* 200 request_id=build-17 .*ms=0\.412\n$/,
    );
  });

  it('writes, from parts made once, the very line formatLogLine writes', () => {
    for (const bytes of [4096, null]) {
      const { requestId, completed, seconds, ...kind } = { ...entry, bytes };
      const fields = {
        request_id: requestId,
        remote: kind.remote,
        route: kind.route,
        source: kind.source,
        bytes,
        completed,
        ms: 0.412,
      };
      const expected = (format: 'json' | 'text') =>
        formatLogLine(
          {
            time: new Date(0),
            level: 'info',
            app: 'gateway',
            context: 'access',
            msg: `GET ${entry.path} 200`,
            fields:
              format === 'json'
                ? { ...fields, method: 'GET', path: entry.path, status: 200 }
                : fields,
          },
          format,
        );
      const text = written('text', (log) =>
        log.accessAs(log.partsOf(kind), requestId, completed, seconds),
      );
      expect(text.slice(24)).toBe(expected('text').slice(24));
      const json = written('json', (log) =>
        log.accessAs(log.partsOf(kind), requestId, completed, seconds),
      );
      expect({ ...JSON.parse(json), time: 0 }).toEqual({
        ...JSON.parse(expected('json')),
        time: 0,
      });
    }
  });

  it('writes an audit line at once, naming who by fingerprint', () => {
    const text = written('json', (log) =>
      log.audit({ requestId: 'r1', method: 'DELETE', path: '/cache/x/', status: 200, who: 'ab12' }),
    );
    expect(JSON.parse(text)).toMatchObject({ context: 'audit', who: 'ab12', status: 200 });
  });

  it('writes lines together: when 64 KiB are gathered, or 20 ms after the first', () => {
    jest.useFakeTimers();
    const config = { log: { level: 'info', format: 'json', access: true } } as unknown as AppConfig;
    const log = new RequestLog(config);
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const text = () => out.mock.calls.map(([chunk]) => String(chunk)).join('');
    try {
      log.access(entry);
      expect(out).not.toHaveBeenCalled();
      jest.advanceTimersByTime(20);
      expect(text().split('\n').filter(Boolean)).toHaveLength(1);
      for (let i = 0; i < 500; i += 1) {
        log.access({ ...entry, requestId: `burst-${i}` });
      }
      // 500 lines of ~330 bytes: most written already, in buffers of at most 64 KiB.
      expect(out.mock.calls.length).toBeGreaterThan(2);
      expect(out.mock.calls.every(([chunk]) => (chunk as Buffer).length <= 64 * 1024)).toBe(true);
      log.flush();
      const ids = text()
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { request_id: string }).request_id);
      expect(ids).toEqual(['build-17', ...Array.from({ length: 500 }, (_, i) => `burst-${i}`)]);
    } finally {
      out.mockRestore();
      log.onApplicationShutdown();
      jest.useRealTimers();
    }
  });
});
