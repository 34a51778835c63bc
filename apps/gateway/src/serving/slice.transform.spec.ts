import { PassThrough, Readable, pipeline } from 'node:stream';
import { text } from 'node:stream/consumers';
import { sliceStream } from './slice.transform';

describe('sliceStream', () => {
  it('keeps exactly the inclusive range across chunk borders', async () => {
    const source = Readable.from(['0123', '4567', '89'].map((s) => Buffer.from(s)));
    expect(await text(source.pipe(sliceStream(3, 8)))).toBe('345678');
  });

  it('handles a range inside one chunk and the last byte', async () => {
    expect(await text(Readable.from([Buffer.from('abcdef')]).pipe(sliceStream(2, 3)))).toBe('cd');
    expect(await text(Readable.from([Buffer.from('abcdef')]).pipe(sliceStream(5, 5)))).toBe('f');
  });

  it.each([
    [0, 0],
    [3, 8],
    [9, 9],
  ])('holding back gives the same bytes for %i-%i once the source ends', async (start, end) => {
    const source = Readable.from(['0123', '4567', '89'].map((s) => Buffer.from(s)));
    const slice = sliceStream(start, end, { holdLastByteUntilEnd: true });
    expect(await text(source.pipe(slice))).toBe('0123456789'.slice(start, end + 1));
  });

  it('holding back: a source that fails after the range never delivers its last byte', async () => {
    const source = new PassThrough();
    const slice = sliceStream(0, 3, { holdLastByteUntilEnd: true });
    const received: string[] = [];
    slice.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    const failed = new Promise<Error>((resolve) => slice.once('error', resolve));
    pipeline(source, slice, () => undefined);
    source.write('012345');
    await new Promise((resolve) => setImmediate(resolve));
    source.destroy(new Error('digest mismatch'));
    expect((await failed).message).toBe('digest mismatch');
    expect(received.join('')).toBe('012');
  });
});
