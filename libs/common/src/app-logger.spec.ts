import { Writable } from 'node:stream';
import { AppLogger, type LogEntry, formatLogLine, isLogged, resolveLogFormat } from './app-logger';

const time = new Date('2026-12-03T10:00:00.123Z');
const entry: LogEntry = {
  time,
  level: 'warn',
  app: 'fetcher',
  context: 'FetchService',
  msg: 'hi "x"',
};

class Lines extends Writable {
  readonly lines: string[] = [];
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    callback();
  }
}

describe('formatLogLine', () => {
  it.each([
    [
      'json: fixed fields first, UTC time, extra fields after',
      { ...entry, fields: { status: 200, who: null } },
      'json',
      '{"time":"2026-12-03T10:00:00.123Z","level":"warn","app":"fetcher","context":"FetchService","msg":"hi \\"x\\"","status":200,"who":null}\n',
    ],
    [
      'text: one readable line, extra fields as key=value',
      { ...entry, fields: { status: 200 } },
      'text',
      '2026-12-03T10:00:00.123Z WARN  fetcher [FetchService] hi "x" status=200\n',
    ],
  ] as const)('%s', (_what, given, format, expected) => {
    expect(formatLogLine(given, format)).toBe(expected);
  });
});

describe('isLogged', () => {
  it.each([
    ['debug', 'info', false],
    ['info', 'info', true],
    ['warn', 'info', true],
    ['error', 'warn', true],
    ['info', 'error', false],
    ['debug', 'debug', true],
  ] as const)('%s at level %s: %s', (level, threshold, expected) => {
    expect(isLogged(level, threshold)).toBe(expected);
  });
});

describe('resolveLogFormat', () => {
  it.each([
    ['auto', true, 'text'],
    ['auto', false, 'json'],
    ['json', true, 'json'],
    ['text', false, 'text'],
  ] as const)('%s on a terminal: %s -> %s', (format, isTTY, expected) => {
    expect(resolveLogFormat(format, { isTTY })).toBe(expected);
  });
});

describe('AppLogger', () => {
  const parsed = (out: Lines) =>
    out.lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  it("writes Nest's calls as JSON lines naming the app and the context, the stack of an error apart", () => {
    const out = new Lines();
    const logger = new AppLogger({ app: 'gateway', level: 'info', format: 'auto', out });
    logger.log('started', 'NestApplication');
    logger.warn('slow', 'FetchService');
    logger.error('failed', 'Error: failed\n    at x (y.js:1:1)', 'FetchService');
    logger.debug('hidden', 'FetchService');
    expect(parsed(out)).toEqual([
      expect.objectContaining({
        level: 'info',
        app: 'gateway',
        context: 'NestApplication',
        msg: 'started',
      }),
      expect.objectContaining({ level: 'warn', context: 'FetchService', msg: 'slow' }),
      expect.objectContaining({
        level: 'error',
        context: 'FetchService',
        msg: 'failed',
        stack: 'Error: failed\n    at x (y.js:1:1)',
      }),
    ]);
  });

  it('puts the route-mapping and module lines at debug level', () => {
    const quiet = new Lines();
    new AppLogger({ app: 'gateway', level: 'info', format: 'json', out: quiet }).log(
      'Mapped {/health, GET} route',
      'RouterExplorer',
    );
    expect(quiet.lines).toEqual([]);
    const verbose = new Lines();
    new AppLogger({ app: 'gateway', level: 'debug', format: 'json', out: verbose }).log(
      'Mapped {/health, GET} route',
      'RouterExplorer',
    );
    expect(parsed(verbose)).toEqual([expect.objectContaining({ level: 'debug' })]);
  });

  it("writes a message's own fields after the line's, in JSON and as key=value in text", () => {
    const json = new Lines();
    new AppLogger({ app: 'fetcher', level: 'info', format: 'json', out: json }).log(
      { msg: 'files a.bin [build-17] stored', request_id: 'build-17', bytes: 42, final: true },
      'FetchService',
    );
    expect(Object.entries(parsed(json)[0])).toEqual([
      ['time', expect.any(String)],
      ['level', 'info'],
      ['app', 'fetcher'],
      ['context', 'FetchService'],
      ['msg', 'files a.bin [build-17] stored'],
      ['request_id', 'build-17'],
      ['bytes', 42],
      ['final', true],
    ]);
    const text = new Lines(true);
    new AppLogger({ app: 'fetcher', level: 'info', format: 'auto', out: text }).warn(
      { msg: 'files a.bin failed', request_id: null },
      'FetchService',
    );
    expect(text.lines[0]).toMatch(/\[FetchService\] files a\.bin failed request_id=null$/);
  });

  it('writes an object without a message as JSON text', () => {
    const out = new Lines();
    new AppLogger({ app: 'gateway', level: 'info', format: 'json', out }).log({ a: 1 }, 'Main');
    expect(parsed(out)[0]).toMatchObject({ msg: '{"a":1}' });
  });

  it('writes text without colour codes on a terminal', () => {
    const out = new Lines(true);
    new AppLogger({ app: 'fetcher', level: 'info', format: 'auto', out }).log('ready', 'Main');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}fetcher \[Main\] ready$/);
  });
});
