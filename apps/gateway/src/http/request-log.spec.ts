import { Writable } from 'node:stream';
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

async function written(format: 'json' | 'text', write: (log: RequestLog) => void): Promise<string> {
  const config = { log: { level: 'info', format, access: true } } as unknown as AppConfig;
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const log = new RequestLog(config, sink);
  write(log);
  await log.onApplicationShutdown();
  return chunks.join('');
}

describe('RequestLog', () => {
  it('writes an access line as one JSON object, whatever the path holds', async () => {
    const lines = (await written('json', (log) => log.access(entry))).split('\n').filter(Boolean);
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

  it('writes a declared length of none as null, and text on a terminal', async () => {
    const json = await written('json', (log) =>
      log.access({ ...entry, bytes: null, completed: false }),
    );
    expect(JSON.parse(json)).toMatchObject({ bytes: null, completed: false });
    const text = await written('text', (log) => log.access(entry));
    expect(text).toMatch(
      / INFO {2}gateway \[access\] GET .* 200 request_id=build-17 .*ms=0\.412\n$/,
    );
  });

  it('writes an audit line at once, naming who by fingerprint', async () => {
    const text = await written('json', (log) =>
      log.audit({ requestId: 'r1', method: 'DELETE', path: '/cache/x/', status: 200, who: 'ab12' }),
    );
    expect(JSON.parse(text)).toMatchObject({ context: 'audit', who: 'ab12', status: 200 });
  });
});
