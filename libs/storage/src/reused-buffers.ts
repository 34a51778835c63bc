import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/** Reads in flight ahead of the socket while it sends: one being written, one being read. */
const BUFFERS = 2;

/**
 * Fills the next chunk into `buffer` and returns the filled part, or null when the body ended.
 * It may wait (a body that is still growing).
 */
export type ChunkFiller = (buffer: Buffer) => Promise<Buffer | null>;

/** A body that can write itself to a socket through reused buffers (sendWithReusedBuffers). */
export interface SendableBody {
  /** Resolves once its first bytes can be read or its end is known; rejects when it failed first. */
  firstBytes(): Promise<void>;
  /** Writes the body to `out` (which it does not end); resolves with the bytes written. */
  sendTo(out: Writable): Promise<number>;
}

export function isSendable(body: unknown): body is SendableBody {
  const candidate = body as Partial<SendableBody> | null;
  return typeof candidate?.sendTo === 'function' && typeof candidate.firstBytes === 'function';
}

/**
 * Sends a body to `out` (which it does not end) through two reused buffers: one being written
 * while the next is filled. A buffer is filled again only once the socket has taken its last
 * write. Streaming large bodies the Readable way allocates a fresh buffer per chunk, and the
 * page faults and garbage collection of those (a major GC every few dozen MiB: the buffers are
 * external memory) cost more than the copying does.
 * Resolves with the bytes written; rejects, having written a prefix at most, when `fill` or
 * `out` fails or `out` closes (a failed `fill` once the prefix has reached `out`).
 */
export async function sendWithReusedBuffers(
  out: Writable,
  chunkBytes: number,
  fill: ChunkFiller,
): Promise<number> {
  // A socket that closes may drop the callbacks of the writes it still held: never wait on them.
  let onClose = (): void => undefined;
  const closed = new Promise<never>((_resolve, reject) => {
    onClose = () => reject(new Error('the connection closed before the body was sent'));
  });
  closed.catch(() => undefined);
  out.once('close', onClose);
  const buffers = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(chunkBytes));
  const writes: Array<Promise<void>> = [];
  let sent = 0;
  try {
    if (out.destroyed) {
      onClose();
    }
    for (let round = 0; ; round += 1) {
      if (writes.length === BUFFERS) {
        // This round reuses the buffer of the oldest write: it must have left for the socket.
        await Promise.race([writes.shift(), closed]);
      }
      const chunk = await Promise.race([fill(buffers[round % BUFFERS]), closed]).catch(
        async (error: unknown) => {
          await letWritesOut(writes, closed);
          throw error;
        },
      );
      if (chunk === null) {
        break;
      }
      sent += chunk.length;
      const write = writeTo(out, chunk);
      write.catch(() => undefined);
      writes.push(write);
    }
    await Promise.race([Promise.all(writes), closed]);
    return sent;
  } finally {
    out.off('close', onClose);
  }
}

/** How long a failed body waits for the bytes it already wrote before its sender breaks the transfer. */
const LAST_WRITES_MS = 1_000;

/**
 * Lets the writes already handed to `out` reach it before the caller breaks the transfer: an
 * HTTP response corks its socket until the next tick, and a body that fails within the same tick
 * (all in microtasks) would have its headers and first bytes thrown away with the socket, leaving
 * the client a reset without a status instead of a broken body.
 */
async function letWritesOut(writes: Array<Promise<void>>, closed: Promise<never>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, LAST_WRITES_MS)));
  await Promise.race([Promise.allSettled(writes), closed, waited]).catch(() => undefined);
  clearTimeout(timer);
}

function writeTo(out: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(chunk, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * A stream's _destroy over a file it reads: closes the file (when still open), then reports the
 * stream's own error, whatever the close did.
 */
export function closeThenDone(
  handle: FileHandle | null,
  error: Error | null,
  done: (error?: Error | null) => void,
): void {
  if (!handle) {
    done(error);
    return;
  }
  handle.close().then(
    () => done(error),
    () => done(error),
  );
}
