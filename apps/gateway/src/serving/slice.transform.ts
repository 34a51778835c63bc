import { Transform, type TransformCallback } from 'node:stream';

export interface SliceOptions {
  /**
   * Keep the range's last byte until the source has ended without error: a source that may still
   * fail its verification (a streaming miss) then never completes a ranged response.
   */
  holdLastByteUntilEnd?: boolean;
}

/** Passes bytes [start, end] (inclusive) of a stream read from byte 0. */
export function sliceStream(start: number, end: number, options: SliceOptions = {}): Transform {
  let offset = 0;
  let held: Buffer | null = null;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const chunkStart = offset;
      offset += chunk.length;
      if (offset <= start || chunkStart > end) {
        callback();
        return;
      }
      const part = chunk.subarray(
        Math.max(0, start - chunkStart),
        Math.min(chunk.length, end - chunkStart + 1),
      );
      if (options.holdLastByteUntilEnd && offset > end) {
        // This chunk holds the range's last byte.
        held = part.subarray(part.length - 1);
        callback(null, part.length > 1 ? part.subarray(0, part.length - 1) : undefined);
        return;
      }
      callback(null, part);
    },
    flush(callback: TransformCallback) {
      callback(null, held ?? undefined);
    },
  });
}
