/**
 * Settles with `work`, or rejects with `onTimeout()` once `ms` passed. The work itself is not
 * cancelled (a Redis command cannot be taken back); callers use this where the answer matters
 * only for a while: a client waiting for a queue call must hear within seconds that Redis is
 * partitioned, even though the command may still complete later.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
