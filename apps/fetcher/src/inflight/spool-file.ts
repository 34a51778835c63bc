import { EventEmitter, once } from 'node:events';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { ArtifactError } from '@app/common';

/**
 * While the download is still being verified, readers never get the last byte: a client can
 * then never hold a complete body of something that fails its size or digest check (SPEC §5).
 * Content-Length (or chunked framing) makes the missing byte visible as a broken transfer.
 */
const HOLD_BACK_BYTES = 1;
// Large reads: every chunk leaves a few hundred bytes of heap garbage behind (buffer, promise,
// stream bookkeeping); with 64 KiB reads 16 followers of a 1 GiB fetch grew the old generation
// by 40 MiB before a major GC, with 256 KiB it stays flat.
const READ_CHUNK_BYTES = 256 * 1024;
/** Received bytes buffered while the previous spool write runs (then written in one writev). */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * receiving → verified (every byte arrived and passed the size/digest checks: the storage writer
 * may read to the end) → released (published: clients may read to the end). Or → failed.
 */
type SpoolState = 'receiving' | 'verified' | 'released' | 'failed';

/** Which state lets a reader deliver the held-back bytes and end. */
export type ReaderGate = 'verified' | 'released';

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

  /**
   * The sink the upstream body is piped into. Chunks that arrive while a write is on the thread
   * pool are written together in the next one (writev): one write per socket read costs a thread
   * pool round trip per 64 KiB and held a 64 MiB download to ~150 MB/s.
   */
  createWriter(): Writable {
    return new Writable({
      highWaterMark: WRITE_BUFFER_BYTES,
      writev: (chunks, callback) => {
        const buffers = chunks.map(({ chunk }) => chunk as Buffer);
        this.writeAll(buffers).then(() => {
          this.changes.emit('change');
          callback();
        }, callback);
      },
    });
  }

  /** A write may be short (a filling disk); only what was written whole counts. */
  private async writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    while (pending.length > 0) {
      let bytesWritten: number;
      try {
        ({ bytesWritten } = await this.handle.writev(pending, this.written));
      } catch (error) {
        throw spoolError(error);
      }
      if (bytesWritten === 0) {
        throw new ArtifactError('storage_unavailable', 'spool write made no progress (disk full?)');
      }
      this.written += bytesWritten;
      pending = remainderAfter(pending, bytesWritten);
    }
  }

  /** Every byte arrived and passed verification: the storage writer may read to the end. */
  verified(): void {
    if (this.state === 'receiving') {
      this.state = 'verified';
      this.changes.emit('change');
    }
  }

  /**
   * The fetch is recorded: clients may read to the end. Releasing after publish (not just after
   * verification) means a client holding the whole body finds the artifact cached on its next
   * request.
   */
  release(): void {
    if (this.state === 'receiving' || this.state === 'verified') {
      this.state = 'released';
      this.changes.emit('change');
    }
  }

  /** Readers that have not ended error out instead of ever delivering the held-back bytes. */
  fail(error: Error): void {
    if (this.state === 'receiving' || this.state === 'verified') {
      this.state = 'failed';
      this.failure = error;
      this.changes.emit('change');
    }
  }

  /** Opens a reader at byte 0; rejects when the spool file is already gone. */
  async openReader(gate: ReaderGate, signal?: AbortSignal): Promise<Readable> {
    const handle = await open(this.path, 'r');
    return new SpoolReader(this, handle, gate, signal);
  }

  /** @internal used by SpoolReader: how far a reader behind `gate` may read, and whether that is the end. */
  snapshot(gate: ReaderGate): { readable: number; ended: boolean; failure: Error | null } {
    if (this.state === 'failed') {
      return { readable: 0, ended: false, failure: this.failure ?? new Error('fetch failed') };
    }
    const open = this.state === 'released' || (this.state === 'verified' && gate === 'verified');
    const readable = open ? this.written : Math.max(0, this.written - HOLD_BACK_BYTES);
    return { readable, ended: open, failure: null };
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

/** The buffers left to write once `written` bytes of them are on disk. */
export function remainderAfter(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
    } else {
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return rest;
}

/** A full or failing spool disk is the fetcher's storage failing, not the upstream's. */
function spoolError(error: unknown): Error {
  const code = (error as { code?: string } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO' || code === 'EROFS') {
    return new ArtifactError('storage_unavailable', `spool write failed: ${message}`);
  }
  return error instanceof Error ? error : new Error(message);
}

class SpoolReader extends Readable {
  private position = 0;
  private pumping = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly spool: SpoolFile,
    private handle: FileHandle | null,
    private readonly gate: ReaderGate,
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
      const { readable, ended, failure } = this.spool.snapshot(this.gate);
      if (failure) {
        throw failure;
      }
      if (this.position < readable) {
        const length = Math.min(READ_CHUNK_BYTES, readable - this.position);
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await this.handle.read(buffer, 0, length, this.position);
        this.position += bytesRead;
        this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
        return;
      }
      if (ended) {
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
