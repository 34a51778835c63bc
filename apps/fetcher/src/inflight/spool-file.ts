import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { ArtifactError, withDeadline } from '@app/common';
import { closeThenDone, sendWithReusedBuffers } from '@app/storage';
import {
  type ReaderGate,
  type SpoolEvent,
  type SpoolState,
  nextSpoolState,
  readerWindow,
} from './spool-state';
import type { SpoolHash, SpoolHashers } from './spool-hasher';

// Large reads: every chunk leaves a few hundred bytes of heap garbage behind (buffer, promise,
// stream bookkeeping); with 64 KiB reads 16 followers of a 1 GiB fetch grew the old generation
// by 40 MiB before a major GC, with 256 KiB it stays flat.
const READ_CHUNK_BYTES = 256 * 1024;
/** Received bytes gathered while the previous spool write runs (then written in one). */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** The hashing thread is told of the file's growth in steps of this many bytes (and at the end). */
const HASH_STEP_BYTES = 4 * 1024 * 1024;
/** With syncBehind, the written bytes are flushed to the disk in steps of this many. */
const SYNC_BEHIND_BYTES = 8 * 1024 * 1024;
/**
 * After the first bytes, a window is announced once it grew by this many bytes, or
 * WINDOW_LINGER_MS after it first grew by less: announcing every spool write (~340 per 64 MiB) cost the fetcher a socket write and
 * the gateway a wake-up, a read and a short write to its client each time.
 */
const WINDOW_STEP_BYTES = 1024 * 1024;
const WINDOW_LINGER_MS = 5;

/**
 * The bytes of one in-flight fetch on local disk. The upstream body is written in; any number of
 * readers (the storage upload, every waiting client through the in-flight endpoint) follow it
 * from byte 0 as it grows, without holding it in memory. Its states: spool-state.ts.
 */
export class SpoolFile {
  private written = 0;
  private hashTold = 0;
  private synced = 0;
  private syncing = false;
  private state: SpoolState = 'receiving';
  private failure: Error | null = null;
  private readonly changes = new EventEmitter();

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly hash: SpoolHash | null,
  ) {
    this.changes.setMaxListeners(0);
  }

  /** With `hashers`, the file is hashed as it grows (sha256()). */
  static async create(path: string, hashers?: SpoolHashers): Promise<SpoolFile> {
    const handle = await open(path, 'wx+', 0o600);
    return new SpoolFile(path, handle, hashers?.follow(path) ?? null);
  }

  /**
   * hex sha256 of every byte written, once the writer has finished. The hashing thread is given
   * 30 s plus 20 ms per MiB (50 MB/s, a twentieth of its speed here) before this fails.
   */
  sha256(): Promise<string> {
    if (!this.hash) {
      return Promise.reject(new Error('this spool file is not hashed'));
    }
    const ms = 30_000 + Math.ceil(this.written / (1024 * 1024)) * 20;
    return withDeadline(
      this.hash.digest(this.written),
      ms,
      () => new Error(`hashing the spool took over ${ms} ms`),
    );
  }

  /**
   * hex `algorithm` digest of every byte written, read again from the file once the writer has
   * finished: for the digests a format names besides sha256 (npm's sha512 and sha1), whose files
   * are small. Bounded like sha256().
   */
  digest(algorithm: 'sha512' | 'sha1'): Promise<string> {
    const ms = 30_000 + Math.ceil(this.written / (1024 * 1024)) * 20;
    const read = async (): Promise<string> => {
      const hash = createHash(algorithm);
      if (this.written > 0) {
        const stream = createReadStream(this.path, {
          start: 0,
          end: this.written - 1,
          highWaterMark: READ_CHUNK_BYTES,
        });
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          hash.update(chunk);
        }
      }
      return hash.digest('hex');
    };
    return withDeadline(read(), ms, () => new Error(`reading the spool took over ${ms} ms`));
  }

  /**
   * The sink the upstream body is piped into (SpoolWriter). `syncBehind`: the file is to be kept
   * (storage adopts it), so it is flushed to the disk while it grows, which leaves its final
   * fsync little to do (a 64 MiB file: ~50 ms less).
   */
  createWriter(options: { syncBehind?: boolean } = {}): Writable {
    return new SpoolWriter(async (bytes) => {
      await this.writeAll([bytes]);
      if (this.hash && this.written - this.hashTold >= HASH_STEP_BYTES) {
        this.hashTold = this.written;
        this.hash.grew(this.written);
      }
      this.changes.emit('change');
      if (options.syncBehind) {
        this.syncBehind();
      }
    });
  }

  /** Starts a flush of what is written when a step's worth is unflushed and none is running. */
  private syncBehind(): void {
    if (this.syncing || this.written - this.synced < SYNC_BEHIND_BYTES) {
      return;
    }
    this.syncing = true;
    const upTo = this.written;
    // Failures are the final fsync's to report: it runs whatever happened here.
    this.handle.datasync().then(
      () => {
        this.synced = upTo;
        this.syncing = false;
      },
      () => {
        this.syncing = false;
      },
    );
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
    this.move('verified');
  }

  /**
   * The fetch is recorded: clients may read to the end. Releasing after publish (not just after
   * verification) means a client holding the whole body finds the artifact cached on its next
   * request.
   */
  release(): void {
    this.move('released');
  }

  /** Readers that have not ended error out instead of ever delivering the held-back bytes. */
  fail(error: Error): void {
    if (this.move('failed')) {
      this.failure = error;
    }
  }

  private move(event: SpoolEvent): boolean {
    const next = nextSpoolState(this.state, event);
    if (next === this.state) {
      return false;
    }
    this.state = next;
    this.changes.emit('change');
    return true;
  }

  /** Opens a reader at byte 0; rejects when the spool file is already gone. */
  async openReader(gate: ReaderGate, signal?: AbortSignal): Promise<SpoolReader> {
    const handle = await open(this.path, 'r');
    return new SpoolReader(this, handle, gate, signal);
  }

  /** @internal used by SpoolReader: how far a reader behind `gate` may read, and whether that is the end. */
  snapshot(gate: ReaderGate): { readable: number; ended: boolean; failure: Error | null } {
    const window = readerWindow(this.state, gate, this.written);
    if (window.failed) {
      return { readable: 0, ended: false, failure: this.failure ?? new Error('fetch failed') };
    }
    return { readable: window.readable, ended: window.ended, failure: null };
  }

  /**
   * How far a reader behind `gate` may read, each time that grows, until the end (a gateway on
   * the same host reads the file itself and is sent only these). Throws when the fetch fails.
   */
  async *windows(
    gate: ReaderGate,
    signal?: AbortSignal,
  ): AsyncGenerator<{ readable: number; ended: boolean }> {
    let told = -1;
    /** when the window first grew past what was told, by less than a step */
    let grewAt = 0;
    for (;;) {
      const { readable, ended, failure } = this.snapshot(gate);
      if (failure) {
        throw failure;
      }
      const grown = readable - told;
      const lingered = grown > 0 && grewAt > 0 && performance.now() - grewAt >= WINDOW_LINGER_MS;
      // The first bytes go at once: a client's response starts with them (a small file's whole
      // body), as before; after them, windows are told per step.
      const first = told < 0 || (told === 0 && grown > 0);
      if (ended || first || grown >= WINDOW_STEP_BYTES || lingered) {
        told = readable;
        grewAt = 0;
        yield { readable, ended };
        if (ended) {
          return;
        }
        // Looked at again first: what changed while the consumer held us is not missed.
        continue;
      }
      if (grown > 0) {
        grewAt ||= performance.now();
        await this.waitForChange(signal, WINDOW_LINGER_MS - (performance.now() - grewAt));
        continue;
      }
      await this.waitForChange(signal);
    }
  }

  /** Which file this is, for a reader that opens it by its path (it must find this very file). */
  async identity(): Promise<{ path: string; device: number; inode: number }> {
    const info = await this.handle.stat();
    return { path: this.path, device: info.dev, inode: info.ino };
  }

  /** @internal resolves on the next change, or after `timeoutMs` when given */
  async waitForChange(signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    if (timeoutMs === undefined) {
      await once(this.changes, 'change', { signal });
      return;
    }
    const timeout = AbortSignal.timeout(Math.max(Math.ceil(timeoutMs), 0));
    await once(this.changes, 'change', {
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    }).catch((error: unknown) => {
      if (!timeout.aborted || signal?.aborted) {
        throw error;
      }
    });
  }

  /** Removes the file; readers that already opened it keep their descriptor (unix semantics). */
  async dispose(): Promise<void> {
    this.fail(new Error('spool disposed'));
    this.hash?.abandon();
    await this.handle.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}

/**
 * Copies what it is given into one of two reused buffers and writes that buffer to the spool
 * whenever no write is running, so bytes that arrive during a write (on the thread pool) go out
 * together in the next one. Copying costs less than it saves: the socket's chunks die at once
 * instead of waiting for the disk, and chunks that outlived a young-generation GC were promoted
 * and made the fetcher run a major GC every ~15 MiB (their memory is external: only a major GC
 * frees it). One write per socket read instead held a 64 MiB download to ~150 MB/s.
 */
class SpoolWriter extends Writable {
  private filling = Buffer.allocUnsafeSlow(WRITE_BUFFER_BYTES);
  private spare = Buffer.allocUnsafeSlow(WRITE_BUFFER_BYTES);
  private filled = 0;
  private writing: Promise<void> | null = null;
  private failure: Error | null = null;

  constructor(private readonly writeOut: (bytes: Buffer) => Promise<void>) {
    super({ highWaterMark: WRITE_BUFFER_BYTES });
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error) => void,
  ): void {
    this.take(chunk, 0, callback);
  }

  override _final(callback: (error?: Error) => void): void {
    this.drain().then(() => callback(), callback);
  }

  private take(chunk: Buffer, offset: number, callback: (error?: Error) => void): void {
    let from = offset;
    while (from < chunk.length) {
      if (this.failure) {
        callback(this.failure);
        return;
      }
      if (this.filled === this.filling.length) {
        // Both buffers are taken: go on once the running write is done.
        (this.writing ?? Promise.resolve()).then(
          () => this.take(chunk, from, callback),
          () => this.take(chunk, from, callback),
        );
        return;
      }
      const copied = chunk.copy(this.filling, this.filled, from);
      this.filled += copied;
      from += copied;
      this.startWrite();
    }
    callback();
  }

  /** Writes the filled buffer out unless a write is running (its end starts the next one). */
  private startWrite(): void {
    if (this.writing || this.filled === 0 || this.failure) {
      return;
    }
    const bytes = this.filling.subarray(0, this.filled);
    [this.filling, this.spare] = [this.spare, this.filling];
    this.filled = 0;
    this.writing = this.writeOut(bytes).then(
      () => {
        this.writing = null;
        this.startWrite();
      },
      (error: Error) => {
        this.failure = error;
        this.writing = null;
        throw error;
      },
    );
    this.writing.catch(() => undefined);
  }

  /** Resolves once every byte taken is written; rejects with the first write's failure. */
  private async drain(): Promise<void> {
    while (this.writing || this.filled > 0) {
      if (this.failure) {
        throw this.failure;
      }
      this.startWrite();
      await this.writing?.catch(() => undefined);
    }
    if (this.failure) {
      throw this.failure;
    }
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

  /**
   * Writes the whole body to `out` (which it does not end) through reused buffers, then closes
   * the file. Rejects, having written a prefix at most, when the fetch fails or `out` does.
   */
  async sendTo(out: Writable): Promise<number> {
    if (this.pumping || this.readableDidRead || this.destroyed) {
      throw new Error('SpoolReader.sendTo: the body is already being read');
    }
    this.pumping = true;
    try {
      return await sendWithReusedBuffers(out, READ_CHUNK_BYTES, (buffer) => this.nextChunk(buffer));
    } finally {
      this.destroy();
    }
  }

  private async pump(): Promise<void> {
    const chunk = await this.nextChunk();
    this.push(chunk);
  }

  /**
   * The next bytes this reader's gate lets through (into `into`, else a buffer of their size),
   * waiting while the spool has none; null at the end.
   */
  private async nextChunk(into?: Buffer): Promise<Buffer | null> {
    for (;;) {
      if (!this.handle) {
        throw new Error('spool reader closed');
      }
      const { readable, ended, failure } = this.spool.snapshot(this.gate);
      if (failure) {
        throw failure;
      }
      if (this.position < readable) {
        const length = Math.min(into?.length ?? READ_CHUNK_BYTES, readable - this.position);
        const buffer = into ?? Buffer.allocUnsafe(length);
        const { bytesRead } = await this.handle.read(buffer, 0, length, this.position);
        if (bytesRead === 0) {
          throw new Error(
            `spool file ended at byte ${this.position}, before the ${readable} written`,
          );
        }
        this.position += bytesRead;
        return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
      if (ended) {
        return null;
      }
      await this.spool.waitForChange(this.abort.signal);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.abort.abort();
    const handle = this.handle;
    this.handle = null;
    closeThenDone(handle, error, callback);
  }
}
