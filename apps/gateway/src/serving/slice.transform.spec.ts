import { Readable } from 'node:stream';
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
});
