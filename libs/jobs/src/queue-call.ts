import { REDIS_COMMAND_TIMEOUT_MS } from '@app/cache';
import { ArtifactError, withDeadline } from '@app/common';

/** A queue call is one or two Redis commands, each bounded by the connection's command timeout. */
const QUEUE_CALL_TIMEOUT_MS = 2 * REDIS_COMMAND_TIMEOUT_MS;
const RETRY_AFTER_SECONDS = 5;

/**
 * A BullMQ call with a deadline: its failure, or no answer within QUEUE_CALL_TIMEOUT_MS, is a
 * `service_unavailable` naming the queue (`fetch`, `warm-up`), which clients get as a 503.
 */
export function queueCall<T>(work: Promise<T>, queue: string): Promise<T> {
  const unavailable = (reason: string) =>
    new ArtifactError(
      'service_unavailable',
      `the ${queue} queue is unavailable (${reason}); cached files are still served`,
      { retryAfter: RETRY_AFTER_SECONDS },
    );
  return withDeadline(
    work.catch((error: unknown) => {
      throw unavailable(error instanceof Error ? error.message : String(error));
    }),
    QUEUE_CALL_TIMEOUT_MS,
    () => unavailable(`no answer from Redis within ${QUEUE_CALL_TIMEOUT_MS} ms`),
  );
}
