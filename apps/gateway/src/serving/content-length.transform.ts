import { type Readable, Transform, type TransformCallback, pipeline } from 'node:stream';

/**
 * The body of a response with a Content-Length, ended as soon as that many bytes have passed
 * rather than when the source reports its own end. The client has the whole answer at that byte
 * and may hang up at once (every `Connection: close` client does), while the source says "end"
 * only later: an fs stream after one more, empty read on the thread pool, the in-flight stream
 * with its chunked terminator in another packet. A hang-up in between is a premature close to
 * Node, which Fastify never reports to onResponse, so a request that got all its bytes went
 * uncounted in the metrics (test/ops/metrics.e2e-spec.ts failed on it under load).
 *
 * A source error, or an end before the last byte, destroys the body, so the client sees a broken
 * transfer; destroying the body (the client left) destroys the source.
 */
export function endAtLength(source: Readable, length: number): Readable {
  let remaining = length;
  const body = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (remaining > 0) {
        const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
        remaining -= part.length;
        this.push(part);
        if (remaining === 0) {
          this.push(null);
        }
      }
      callback();
    },
    flush(callback: TransformCallback) {
      // A source that ends short must not look like a complete answer: destroy, never a short 200.
      callback(
        remaining > 0 ? new Error(`body ended ${remaining} bytes short of ${length}`) : null,
      );
    },
  });
  // Failures reach the client through `body` (destroyed with the error); nothing to do here.
  pipeline(source, body, () => undefined);
  return body;
}
