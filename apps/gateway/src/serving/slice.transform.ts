import { Transform, type TransformCallback } from 'node:stream';

/** Passes bytes [start, end] (inclusive) of a stream read from byte 0. */
export function sliceStream(start: number, end: number): Transform {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const chunkStart = offset;
      offset += chunk.length;
      if (offset <= start || chunkStart > end) {
        callback();
        return;
      }
      callback(
        null,
        chunk.subarray(
          Math.max(0, start - chunkStart),
          Math.min(chunk.length, end - chunkStart + 1),
        ),
      );
    },
  });
}
