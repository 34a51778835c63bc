import { inspect } from 'node:util';

export interface WaitForOptions {
  /** what is awaited, for the error: "redis on 127.0.0.1:6379 to answer PING" */
  description: string;
  timeoutMs?: number;
  intervalMs?: number;
}

/** What `if (value)` lets through. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

const EXPIRED = Symbol('expired');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `fn` until it returns a truthy value, which it returns; a throw counts as "not yet". At
 * the deadline (default 10 s) it throws with the description and the last value or error seen;
 * an attempt still running then is abandoned, so it always returns in time.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { description, timeoutMs = 10_000, intervalMs = 50 }: WaitForOptions,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let last = 'no attempt finished';
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<typeof EXPIRED>((resolve) => {
      timer = setTimeout(() => resolve(EXPIRED), Math.max(deadline - Date.now(), 0));
    });
    try {
      const outcome = await Promise.race([Promise.resolve().then(fn), expired]);
      if (outcome !== EXPIRED) {
        attempts += 1;
        last = `last value: ${inspect(outcome, { depth: 3, breakLength: Infinity })}`;
        if (outcome) {
          return outcome as Truthy<T>;
        }
      }
    } catch (error) {
      attempts += 1;
      last = `last error: ${error instanceof Error ? error.message : inspect(error)}`;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${description} (${attempts} attempts; ${last})`,
      );
    }
    await sleep(Math.min(intervalMs, Math.max(deadline - Date.now(), 0)));
  }
}
