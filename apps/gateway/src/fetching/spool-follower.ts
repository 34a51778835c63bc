import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { type SendableBody, closeThenDone, sendWithReusedBuffers } from '@app/storage';

/** Bytes read from the spool file at once. */
const CHUNK_BYTES = 512 * 1024;
const WINDOW_LINE = /^(end )?(\d+)$/;

/**
 * An in-flight fetch read straight from the fetcher's spool file (a gateway on the fetcher's
 * host): the fetcher sends only how far the file may be read, a line each time that grows, then
 * `end <bytes>` (its reader window, so the held-back byte comes only once the fetch is published).
 * A window stream that is cut (the fetch failed, the fetcher went away, the upstream went
 * silent) fails the body the way a cut byte stream does. The bytes cross no second socket.
 * Read as a Readable, or (sendTo) written to a socket through two reused buffers.
 */
export class SpoolFollower extends Readable implements SendableBody {
  private position = 0;
  private readableUpTo = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private partialLine = '';
  private reading = false;

  constructor(
    private handle: FileHandle | null,
    private readonly windows: Readable,
  ) {
    super({ highWaterMark: CHUNK_BYTES });
    windows.setEncoding('latin1');
    windows.on('data', (text: string) => this.takeWindows(text));
    windows.on('end', () => {
      if (!this.ended) {
        this.fail(new Error('the in-flight fetch was cut before its end'));
      }
    });
    windows.on('error', (error: Error) => this.fail(error));
  }

  private takeWindows(text: string): void {
    const lines = (this.partialLine + text).split('\n');
    this.partialLine = lines.pop() ?? '';
    for (const line of lines) {
      const match = WINDOW_LINE.exec(line);
      if (!match) {
        this.fail(new Error(`the fetcher sent a bad window: ${JSON.stringify(line)}`));
        return;
      }
      this.readableUpTo = Math.max(this.readableUpTo, Number(match[2]));
      this.ended ||= match[1] !== undefined;
    }
    this.notify();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  override _read(): void {
    if (this.reading) {
      return;
    }
    this.reading = true;
    this.nextChunk().then(
      (chunk) => {
        this.reading = false;
        this.push(chunk);
      },
      (error: Error) => {
        this.reading = false;
        this.destroy(error);
      },
    );
  }

  firstBytes(): Promise<void> {
    return this.waitForBytes().then(() => undefined);
  }

  /**
   * Writes the whole body to `out` (which it does not end) through reused buffers, then closes
   * the file; resolves with the bytes written. Rejects, having written a prefix at most, when the
   * fetch fails or `out` does.
   */
  async sendTo(out: Writable): Promise<number> {
    if (this.reading || this.readableDidRead || this.destroyed) {
      throw new Error('SpoolFollower.sendTo: the body is already being read');
    }
    this.reading = true;
    try {
      return await sendWithReusedBuffers(out, CHUNK_BYTES, (buffer) => this.nextChunk(buffer));
    } finally {
      this.destroy();
    }
  }

  /**
   * True once bytes past the position may be read, false at the end; waits while neither. Bytes a
   * window let through are given even after a cut (as a cut byte stream gives what came before
   * it): a body whose first bytes were promised sends them before it fails, so its reply has begun.
   */
  private async waitForBytes(): Promise<boolean> {
    for (;;) {
      if (!this.handle) {
        throw new Error('spool follower closed');
      }
      if (this.position < this.readableUpTo) {
        return true;
      }
      if (this.failure) {
        throw this.failure;
      }
      if (this.ended) {
        return false;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /**
   * The next bytes the window lets through (into `into`, else a buffer of their size), waiting
   * while it lets none; null at the end.
   */
  private async nextChunk(into?: Buffer): Promise<Buffer | null> {
    if (!(await this.waitForBytes())) {
      return null;
    }
    const handle = this.handle;
    if (!handle) {
      throw new Error('spool follower closed');
    }
    const length = Math.min(into?.length ?? CHUNK_BYTES, this.readableUpTo - this.position);
    const buffer = into ?? Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(buffer, 0, length, this.position);
    if (bytesRead === 0) {
      throw new Error(`spool file ended at byte ${this.position}, before ${this.readableUpTo}`);
    }
    this.position += bytesRead;
    return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.windows.destroy();
    this.notify();
    const handle = this.handle;
    this.handle = null;
    closeThenDone(handle, error, callback);
  }
}
