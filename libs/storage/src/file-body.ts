import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { type SendableBody, sendWithReusedBuffers } from './reused-buffers';

/** Bytes per read: fewer system calls and stream hops per MiB; small files in one read. */
const MAX_CHUNK_BYTES = 512 * 1024;

/**
 * A stored file's bytes [start, end], as a Readable, or (sendTo) written straight to a socket
 * through two reused buffers (sendWithReusedBuffers).
 * Either way the body is exactly end - start + 1 bytes, or it fails: a file shorter than its
 * record says (a damaged disk) breaks the transfer instead of ending it short.
 */
export class FileBody extends Readable implements SendableBody {
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

  /** A stored file's bytes are there to read. */
  firstBytes(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Writes the rest of the body to `out` (which it does not end) and closes the file; resolves
   * with the bytes written. Rejects, having written a prefix at most, when the file is short or
   * `out` fails.
   */
  async sendTo(out: Writable): Promise<number> {
    if (this.sending || this.readableDidRead || this.destroyed) {
      throw new Error('FileBody.sendTo: the body is already being read');
    }
    this.sending = true;
    try {
      return await sendWithReusedBuffers(out, this.chunkBytes, (buffer) =>
        this.position <= this.end ? this.readInto(buffer) : Promise.resolve(null),
      );
    } finally {
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
