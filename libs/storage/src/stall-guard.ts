import type { Readable } from 'node:stream';

/**
 * Destroys `body` with `onStall()` when it delivers nothing for `ms` while its consumer wants
 * data. A paused body (the client reads slowly: backpressure) is not stalled, so a socket idle
 * timeout, which cannot tell the two apart, would cut slow clients; this cuts only a server that
 * stopped sending (an S3 server that hangs mid-object).
 */
export function guardStalls(body: Readable, ms: number, onStall: () => Error): void {
  let timer: NodeJS.Timeout | null = null;
  const clear = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  };
  const arm = () => {
    clear();
    timer = setTimeout(() => body.destroy(onStall()), ms);
    timer.unref();
  };
  // 'resume' is emitted on the next tick, possibly after a pause: ask the stream, not the event.
  const armIfFlowing = () => (body.readableFlowing ? arm() : clear());
  // Watching 'data' only once a consumer made the body flow: a 'data' listener added earlier
  // would start the flow itself, and bytes that arrive before the consumer is attached (a small
  // S3 object, while the gateway waits for Redis) would be lost, the body "ending" short.
  let watching = false;
  body.on('resume', () => {
    if (!watching) {
      watching = true;
      body.on('data', armIfFlowing);
    }
    armIfFlowing();
  });
  body.on('pause', clear);
  body.once('end', clear);
  body.once('close', clear);
  body.once('error', clear);
}
