import { EventEmitter, once } from 'node:events';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';

/**
 * While the download is still being verified, readers never get the last byte: a client can
 * then never hold a complete body of something that fails its size or digest check (SPEC §5).
 * Content-Length (or chunked framing) makes the missing byte visible as a broken transfer.
 */
const HOLD_BACK_BYTES = 1;
const READ_CHUNK_BYTES = 256 * 1024;

type SpoolState = 'receiving' | 'complete' | 'failed';

/**
 * The bytes of one in-flight fetch on local disk. The upstream body is written in; any number of
 * readers (the storage upload, every waiting client through the in-flight endpoint) follow it
 * from byte 0 as it grows, without holding it in memory.
 */
export class SpoolFile {
  private written = 0;
  private state: SpoolState = 'receiving';
  private failure: Error | null = null;
  private readonly changes = new EventEmitter();

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {
    this.changes.setMaxListeners(0);
  }

  static async create(path: string): Promise<SpoolFile> {
    return new SpoolFile(path, await open(path, 'wx+', 0o600));
  }

  get bytesWritten(): number {
    return this.written;
  }

  /** The sink the upstream body is piped into. */
  createWriter(): Writable {
    return new Writable({
      highWaterMark: READ_CHUNK_BYTES,
      write: (chunk: Buffer, _encoding, callback) => {
        this.handle.write(chunk, 0, chunk.length, this.written).then(() => {
          this.written += chunk.length;
          this.changes.emit('change');
          callback();
        }, callback);
      },
    });
  }

  /** Every byte arrived and passed verification: readers may deliver the rest and end. */
  complete(): void {
    if (this.state === 'receiving') {
      this.state = 'complete';
      this.changes.emit('change');
    }
  }

  /** Readers error out instead of ever delivering the held-back bytes. */
  fail(error: Error): void {
    if (this.state === 'receiving') {
      this.state = 'failed';
      this.failure = error;
      this.changes.emit('change');
    }
  }

  /** Opens a reader at byte 0; rejects when the spool file is already gone. */
  async openReader(signal?: AbortSignal): Promise<Readable> {
    const handle = await open(this.path, 'r');
    return new SpoolReader(this, handle, signal);
  }

  /** @internal used by SpoolReader */
  snapshot(): { readable: number; state: SpoolState; failure: Error | null } {
    const readable =
      this.state === 'complete' ? this.written : Math.max(0, this.written - HOLD_BACK_BYTES);
    return { readable, state: this.state, failure: this.failure };
  }

  /** @internal */
  async waitForChange(signal?: AbortSignal): Promise<void> {
    await once(this.changes, 'change', { signal });
  }

  /** Removes the file; readers that already opened it keep their descriptor (unix semantics). */
  async dispose(): Promise<void> {
    this.fail(new Error('spool disposed'));
    await this.handle.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}

class SpoolReader extends Readable {
  private position = 0;
  private pumping = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly spool: SpoolFile,
    private handle: FileHandle | null,
    signal?: AbortSignal,
  ) {
    super({ highWaterMark: READ_CHUNK_BYTES, signal });
  }

  override _read(): void {
    if (!this.pumping) {
      this.pumping = true;
      this.pump().then(
        () => {
          this.pumping = false;
        },
        (error: Error) => {
          this.pumping = false;
          this.destroy(error);
        },
      );
    }
  }

  private async pump(): Promise<void> {
    for (;;) {
      if (!this.handle) {
        return;
      }
      const { readable, state, failure } = this.spool.snapshot();
      if (state === 'failed') {
        throw failure ?? new Error('fetch failed');
      }
      if (this.position < readable) {
        const length = Math.min(READ_CHUNK_BYTES, readable - this.position);
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await this.handle.read(buffer, 0, length, this.position);
        this.position += bytesRead;
        this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
        return;
      }
      if (state === 'complete') {
        this.push(null);
        return;
      }
      await this.spool.waitForChange(this.abort.signal);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.abort.abort();
    const handle = this.handle;
    this.handle = null;
    if (!handle) {
      callback(error);
      return;
    }
    handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}
