import { SentinelConnector, type SentinelConnectionOptions } from 'ioredis';

type ErrorEmitter = Parameters<SentinelConnector['connect']>[0];
type NetStream = Awaited<ReturnType<SentinelConnector['connect']>>;

/** The private field ioredis keeps the current stream's failover detector in. */
interface DetectorSlot {
  failoverDetector: { cleanup(): void } | null;
}

/**
 * ioredis' SentinelConnector whose failover detector lives exactly as long as the connection it
 * watches (the fix of redis/ioredis#2198, merged after 6.0.0; 5.11 lacks it).
 *
 * In ioredis 5.11 a detector outlives its stream until the next stream connects. When a primary
 * dies, its clients reconnect at once, and the sentinels' +switch-master reaches the old detector
 * while the connector is asking them for the primary: the detector's disconnect() aborts that
 * attempt with "Connection is closed." and the client ends for good (seen here: a gateway's
 * queue and queue events, dead after a SIGKILLed primary; a fetcher's job failing mid-download,
 * fetched again by the retry). The same stale detector keeps its sentinel connections after QUIT,
 * which is how BullMQ closes its connections (redis/ioredis#1362).
 */
export class StreamScopedSentinelConnector extends SentinelConnector {
  // ioredis' `Connector` option hands over the connection's whole options object.
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
  }

  override async connect(eventEmitter: ErrorEmitter): Promise<NetStream> {
    const stream = await super.connect(eventEmitter);
    stream.once('close', () => {
      // The detector is set synchronously by this stream's `connect` handler, and the next stream
      // is only made after this `close`: whatever is in the slot now is this stream's (or already
      // cleaned up, which cleanup() tolerates).
      (this as unknown as DetectorSlot).failoverDetector?.cleanup();
    });
    return stream;
  }
}
