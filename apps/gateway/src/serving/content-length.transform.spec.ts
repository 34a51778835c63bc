import { PassThrough, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { endAtLength } from './content-length.transform';

/** A source that delivers `chunks` and then stays open, as a source whose end comes later. */
function openSource(chunks: string[]): PassThrough {
  const source = new PassThrough();
  for (const chunk of chunks) {
    source.write(Buffer.from(chunk));
  }
  return source;
}

describe('endAtLength', () => {
  it.each([
    { chunks: ['0123456'], length: 7, body: '0123456' },
    { chunks: ['012', '3456'], length: 7, body: '0123456' },
    { chunks: ['0123', '456789'], length: 7, body: '0123456' },
  ])('ends after $length bytes of $chunks without waiting for the source', async (c) => {
    const source = openSource(c.chunks);
    expect(await text(endAtLength(source, c.length))).toBe(c.body);
    expect(source.writableEnded).toBe(false);
  });

  it('passes a source that ends at the length, whole', async () => {
    const source = Readable.from(['ab', 'cd'].map((s) => Buffer.from(s)));
    expect(await text(endAtLength(source, 4))).toBe('abcd');
  });

  it('fails when the source ends short', async () => {
    const source = Readable.from([Buffer.from('abc')]);
    await expect(text(endAtLength(source, 4))).rejects.toThrow('1 bytes short of 4');
  });

  it('fails when the source fails before the last byte', async () => {
    const source = openSource(['abc']);
    const read = text(endAtLength(source, 4));
    source.destroy(new Error('connection cut'));
    await expect(read).rejects.toThrow('connection cut');
  });

  it('destroys the source when the body is destroyed (the client left)', async () => {
    const source = openSource(['abc']);
    const closed = new Promise((resolve) => source.once('close', resolve));
    endAtLength(source, 10).destroy();
    await closed;
    expect(source.destroyed).toBe(true);
  });
});
