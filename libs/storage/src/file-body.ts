import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

/** Bytes per read: fewer system calls and stream hops per MiB; small files in one read. */
const MAX_CHUNK_BYTES = 512 * 1024;
/** Reads in flight ahead of the socket while it sends: one being written, one being read. */
const BUFFERS = 2;

/**
 * A stored file's bytes [start, end], as a Readable, or (sendTo) written straight to a socket
 * through two reused buffers. Streaming a large file the Readable way allocates a fresh buffer
 * per chunk, and page faults and garbage collection of those cost more than the copying does.
 * Either way the body is exactly end - start + 1 bytes, or it fails: a file shorter than its
 * record says (a damaged disk) breaks the transfer instead of ending it short.
 */
export class FileBody extends Readable {
  private position: number;
  private readonly chunkBytes: number;
  private sending = false;

  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly end: number,
  ) {
    const chunkBytes = Math.max(1, Math.min(end - start + 1, MAX_CHUNK_BYTES));
    super({ highWaterMark: chunkBytes });
    this.position = start;
    this.chunkBytes = chunkBytes;
  }

  get length(): number {
    return this.end - this.position + 1;
  }

  /**
   * Writes the rest of the body to `out` (which it does not end) and closes the file. Rejects,
   * having written a prefix at most, when the file is short or `out` fails.
   */
  async sendTo(out: Writable): Promise<void> {
    if (this.sending || this.readableDidRead || this.destroyed) {
      throw new Error('FileBody.sendTo: the body is already being read');
    }
    this.sending = true;
    // A socket that closes may drop the callbacks of the writes it still held: never wait on them.
    let onClose = (): void => undefined;
    const closed = new Promise<never>((_resolve, reject) => {
      onClose = () => reject(new Error('the connection closed before the body was sent'));
    });
    closed.catch(() => undefined);
    out.once('close', onClose);
    const buffers = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(this.chunkBytes));
    const writes: Array<Promise<void>> = [];
    try {
      if (out.destroyed) {
        onClose();
      }
      for (let round = 0; this.position <= this.end; round += 1) {
        if (writes.length === BUFFERS) {
          // This round reuses the buffer of the oldest write: it must have left for the socket.
          await Promise.race([writes.shift(), closed]);
        }
        const chunk = await this.readInto(buffers[round % BUFFERS]);
        const write = writeTo(out, chunk);
        write.catch(() => undefined);
        writes.push(write);
      }
      await Promise.race([Promise.all(writes), closed]);
    } finally {
      out.off('close', onClose);
      this.destroy();
    }
  }

  override _read(): void {
    if (this.position > this.end) {
      this.push(null);
      return;
    }
    this.readInto(Buffer.allocUnsafe(Math.min(this.chunkBytes, this.length))).then(
      (chunk) => {
        this.push(chunk);
        if (this.position > this.end) {
          this.push(null);
        }
      },
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => done(error),
      (closeError: Error) => done(error ?? closeError),
    );
  }

  private async readInto(buffer: Buffer): Promise<Buffer> {
    const wanted = Math.min(buffer.length, this.length);
    const { bytesRead } = await this.handle.read(buffer, 0, wanted, this.position);
    if (bytesRead === 0) {
      throw new Error(
        `stored file ended ${this.length} bytes early (at byte ${this.position}): damaged storage`,
      );
    }
    this.position += bytesRead;
    return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }
}

function writeTo(out: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(chunk, (error) => (error ? reject(error) : resolve()));
  });
}
