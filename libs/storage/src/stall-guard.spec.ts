import { PassThrough, Writable } from 'node:stream';
import { guardStalls } from './stall-guard';

const stallError = () => new Error('stalled');

function slowSink(): Writable & { release(): void } {
  let pending: (() => void) | null = null;
  const sink = new Writable({
    highWaterMark: 1,
    write(_chunk, _encoding, callback) {
      pending = callback;
    },
  }) as Writable & { release(): void };
  sink.release = () => {
    const callback = pending;
    pending = null;
    callback?.();
  };
  return sink;
}

describe('guardStalls', () => {
  beforeEach(() =>
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }),
  );
  afterEach(() => jest.useRealTimers());

  const ticks = () => new Promise((resolve) => setImmediate(resolve));

  it('leaves an unread body paused: bytes that arrive before its consumer are not lost', async () => {
    const body = new PassThrough();
    guardStalls(body, 1000, stallError);
    body.end(Buffer.from('manifest'));
    await ticks();
    expect(body.readableFlowing).toBeNull();
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
    }
    expect(Buffer.concat(chunks).toString()).toBe('manifest');
  });

  it('destroys a body that sends nothing while it is read', async () => {
    const body = new PassThrough();
    guardStalls(body, 1000, stallError);
    const errors: Error[] = [];
    body.on('error', (error) => errors.push(error));
    body.resume();
    await ticks();
    jest.advanceTimersByTime(999);
    expect(body.destroyed).toBe(false);
    jest.advanceTimersByTime(2);
    expect(body.destroyed).toBe(true);
    await ticks();
    expect(errors.map((error) => error.message)).toEqual(['stalled']);
  });

  it('data keeps it alive', async () => {
    const body = new PassThrough();
    guardStalls(body, 1000, stallError);
    body.on('error', () => undefined);
    body.resume();
    await ticks();
    for (let i = 0; i < 5; i++) {
      jest.advanceTimersByTime(800);
      body.write('x');
      await ticks();
    }
    expect(body.destroyed).toBe(false);
  });

  it('does not count time while the consumer holds it back', async () => {
    const body = new PassThrough({ highWaterMark: 1 });
    guardStalls(body, 1000, stallError);
    body.on('error', () => undefined);
    const sink = slowSink();
    body.pipe(sink);
    body.write('a');
    body.write('b');
    body.write('c');
    await ticks();
    jest.advanceTimersByTime(10_000);
    expect(body.destroyed).toBe(false);
  });

  it('is not armed before anyone reads', () => {
    const body = new PassThrough();
    guardStalls(body, 1000, stallError);
    jest.advanceTimersByTime(5000);
    expect(body.destroyed).toBe(false);
  });
});
