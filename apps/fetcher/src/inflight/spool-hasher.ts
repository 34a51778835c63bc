import { Worker } from 'node:worker_threads';

/**
 * The worker's side: follows spool files by path as the fetcher says they grow, reading the new
 * bytes back (from the page cache) and hashing them; answers the digest at the end.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { closeSync, openSync, readSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buffer = Buffer.allocUnsafe(1024 * 1024);
// id -> { fd, hash, done } while it goes well, { failure } once it failed (told at its end)
const files = new Map();
function close(id) {
  const file = files.get(id);
  files.delete(id);
  if (file && file.fd !== undefined) closeSync(file.fd);
}
parentPort.on('message', (message) => {
  const { type, id } = message;
  if (type === 'abandon') {
    close(id);
    return;
  }
  const file = files.get(id);
  if (file && file.failure !== undefined) {
    if (type === 'end') {
      files.delete(id);
      parentPort.postMessage({ id, error: file.failure });
    }
    return;
  }
  try {
    if (type === 'open') {
      files.set(id, { fd: openSync(message.path, 'r'), hash: createHash('sha256'), done: 0 });
      return;
    }
    if (!file) return;
    while (file.done < message.upTo) {
      const read = readSync(file.fd, buffer, 0, Math.min(buffer.length, message.upTo - file.done), file.done);
      if (read === 0) throw new Error('the spool file is shorter than the bytes written to it');
      file.hash.update(buffer.subarray(0, read));
      file.done += read;
    }
    if (type === 'end') {
      const digest = file.hash.digest('hex');
      close(id);
      parentPort.postMessage({ id, digest });
    }
  } catch (error) {
    close(id);
    const failure = error instanceof Error ? error.message : String(error);
    if (type === 'end') {
      parentPort.postMessage({ id, error: failure });
    } else {
      files.set(id, { failure });
    }
  }
});
`;

interface Waiter {
  resolve: (digest: string) => void;
  reject: (error: Error) => void;
}

/**
 * sha256 of spool files, computed on worker threads while the files grow. The fetcher's own
 * thread receives every download, writes it to its spool and answers the gateways; hashing there
 * too (about 1 ms per MiB) held a cold miss back by a quarter. A worker reads the written bytes
 * back from the page cache instead, on another core when one is free.
 */
export class SpoolHashers {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { worker: Worker; waiter: Waiter }>();
  private nextId = 0;
  private nextWorker = 0;
  private closed = false;

  constructor(private readonly size = 2) {
    for (let i = 0; i < size; i += 1) {
      this.workers.push(this.spawn());
    }
  }

  /** Starts hashing the file at `path` (the spool writer tells it how far it grew). */
  follow(path: string): SpoolHash {
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.size];
    worker.postMessage({ type: 'open', id, path });
    return new SpoolHash(
      (upTo) => worker.postMessage({ type: 'grow', id, upTo }),
      (upTo) =>
        new Promise<string>((resolve, reject) => {
          if (!this.workers.includes(worker)) {
            // It died (and was replaced) while the file grew: what it had hashed is gone.
            reject(new Error('the spool hashing thread exited while the file grew'));
            return;
          }
          this.waiting.set(id, { worker, waiter: { resolve, reject } });
          worker.postMessage({ type: 'end', id, upTo });
        }),
      () => worker.postMessage({ type: 'abandon', id }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (message: { id: number; digest?: string; error?: string }) => {
      const waiting = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.digest !== undefined) {
        waiting?.waiter.resolve(message.digest);
      } else {
        waiting?.waiter.reject(new Error(`hashing the spool failed: ${message.error}`));
      }
    });
    // A worker that dies fails the digests it owed (those fetches are retried) and is replaced.
    worker.once('exit', (code) => {
      for (const [id, waiting] of this.waiting) {
        if (waiting.worker === worker) {
          this.waiting.delete(id);
          waiting.waiter.reject(new Error(`the spool hashing thread exited (code ${code})`));
        }
      }
      const index = this.workers.indexOf(worker);
      if (!this.closed && index !== -1) {
        this.workers[index] = this.spawn();
      }
    });
    worker.on('error', () => undefined);
    return worker;
  }
}

/** One spool file's hash in the making. */
export class SpoolHash {
  constructor(
    private readonly growTo: (upTo: number) => void,
    private readonly endAt: (upTo: number) => Promise<string>,
    private readonly abandonIt: () => void,
  ) {}

  /** The file has `written` bytes now: hash up to there. */
  grew(written: number): void {
    this.growTo(written);
  }

  /** The hex sha256 of the file's first `written` bytes, its whole content. */
  digest(written: number): Promise<string> {
    return this.endAt(written);
  }

  abandon(): void {
    this.abandonIt();
  }
}
