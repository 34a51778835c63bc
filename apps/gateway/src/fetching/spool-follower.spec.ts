import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { waitFor } from '../../../../tools/wait-for';
import { SpoolFollower } from './spool-follower';

describe('SpoolFollower', () => {
  let dir: string;
  const data = Buffer.from('0123456789'.repeat(100_000));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spool-follower-'));
    await writeFile(join(dir, 'spool'), data);
  });

  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function follower(): Promise<{ body: SpoolFollower; windows: PassThrough }> {
    const windows = new PassThrough();
    return { body: new SpoolFollower(await open(join(dir, 'spool'), 'r'), windows), windows };
  }

  /** Everything the body gives before it ends or fails; the failure, if any. */
  async function drain(body: SpoolFollower): Promise<{ bytes: Buffer; error: Error | null }> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) {
        chunks.push(chunk as Buffer);
      }
      return { bytes: Buffer.concat(chunks), error: null };
    } catch (error) {
      return { bytes: Buffer.concat(chunks), error: error as Error };
    }
  }

  it('gives the file only as far as the windows say, and ends only at the end line', async () => {
    const { body, windows } = await follower();
    const got: Buffer[] = [];
    body.on('data', (chunk: Buffer) => got.push(chunk));
    const received = () => Buffer.concat(got).length;
    windows.write('10');
    windows.write('00\n');
    await waitFor(() => Promise.resolve(received() === 1000), { description: 'the first window' });
    windows.write(`${data.length - 1}\n`);
    await waitFor(() => Promise.resolve(received() === data.length - 1), {
      description: 'all but the held-back byte',
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(Buffer.concat(got).equals(data.subarray(0, data.length - 1))).toBe(true);
    // The held-back byte stays held back until the fetch is published.
    const ended = new Promise((resolve) => body.on('end', resolve));
    windows.end(`end ${data.length}\n`);
    await ended;
    // (Buffer.equals: jest's toEqual walks a MB-long buffer for seconds)
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it('fails, short of the end, when the windows are cut before the end line', async () => {
    const { body, windows } = await follower();
    windows.end(`${data.length - 1}\n`);
    const { bytes, error } = await drain(body);
    expect(error?.message).toMatch(/cut before its end/);
    expect(bytes.length).toBeLessThan(data.length);
  });

  it('fails on a window it cannot read, and on a window past the end of the file', async () => {
    const bad = await follower();
    bad.windows.end('half\n');
    expect((await drain(bad.body)).error?.message).toMatch(/bad window/);
    const past = await follower();
    past.windows.end(`end ${data.length + 10}\n`);
    expect((await drain(past.body)).error?.message).toMatch(/spool file ended at byte/);
  });

  /** A socket stand-in that copies what it is given (sendTo reuses its buffers). */
  function collector(): Writable & { bytes: () => Buffer } {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
    return Object.assign(sink, { bytes: () => Buffer.concat(chunks) });
  }

  it('sends itself through reused buffers as far as the windows say, the last byte at the end line', async () => {
    const { body, windows } = await follower();
    const out = collector();
    const sent = body.sendTo(out);
    windows.write('1000\n');
    await waitFor(() => Promise.resolve(out.bytes().length === 1000), {
      description: 'the first window',
    });
    windows.write(`${data.length - 1}\n`);
    await waitFor(() => Promise.resolve(out.bytes().length === data.length - 1), {
      description: 'all but the held-back byte',
    });
    windows.end(`end ${data.length}\n`);
    await expect(sent).resolves.toBe(data.length);
    expect(out.bytes().equals(data)).toBe(true);
    expect(body.destroyed).toBe(true);
  });

  it('rejects sendTo, having sent a prefix, when the windows are cut before the end', async () => {
    const { body, windows } = await follower();
    const out = collector();
    windows.end(`${data.length - 1}\n`);
    await expect(body.sendTo(out)).rejects.toThrow(/cut before its end/);
    expect(out.bytes().length).toBeLessThan(data.length);
  });

  it('says when its first bytes are there, and fails instead when the fetch failed first', async () => {
    const waiting = await follower();
    let there = false;
    const first = waiting.body.firstBytes().then(() => {
      there = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(there).toBe(false);
    waiting.windows.write('1\n');
    await first;
    waiting.body.destroy();
    const cut = await follower();
    cut.windows.end();
    await expect(cut.body.firstBytes()).rejects.toThrow(/cut before its end/);
    cut.body.destroy();
  });

  it('sends the bytes its first window let through when the windows are cut right after it', async () => {
    // A fetch that fails its digest check just after the gateway saw its first bytes.
    const { body, windows } = await follower();
    windows.write('33\n');
    await body.firstBytes();
    windows.end();
    // The follower's own listener, added first, hears of the cut before this one does.
    await new Promise((resolve) => windows.once('end', resolve));
    const out = collector();
    await expect(body.sendTo(out)).rejects.toThrow(/cut before its end/);
    expect(out.bytes().equals(data.subarray(0, 33))).toBe(true);
  });

  it('lets the windows go when the body is destroyed', async () => {
    const { body, windows } = await follower();
    windows.write('5\n');
    body.destroy();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(windows.destroyed).toBe(true);
  });
});
