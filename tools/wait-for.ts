import { inspect } from 'node:util';

export interface WaitForOptions {
  /** what is being waited for, used in the error: "redis on 127.0.0.1:6379 to answer PING" */
  description: string;
  /** overall deadline (default 10 s) */
  timeoutMs?: number;
  /** pause between attempts (default 50 ms) */
  intervalMs?: number;
}

class WaitForTimeoutError extends Error {
  constructor(
    message: string,
    readonly lastValue: unknown,
    readonly lastError: unknown,
  ) {
    super(message);
    this.name = 'WaitForTimeoutError';
  }
}

/** What `if (value)` lets through. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

const EXPIRED = Symbol('expired');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function describeLast(attempts: number, lastValue: unknown, lastError: unknown): string {
  if (attempts === 0) {
    return 'no attempt finished';
  }
  if (lastError !== undefined) {
    const text = lastError instanceof Error ? lastError.message : inspect(lastError);
    return `last error: ${text}`;
  }
  return `last value: ${inspect(lastValue, { depth: 3, breakLength: Infinity })}`;
}

/**
 * Calls `fn` until it returns a truthy value (which is returned) or the deadline passes, then
 * throws with the description and the last value or error seen. A throwing `fn` counts as "not
 * yet". An attempt that never settles is cut off at the deadline, so this always returns in time.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<Truthy<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let lastValue: unknown = undefined;
  let lastError: unknown = undefined;

  for (;;) {
    const remaining = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<typeof EXPIRED>((resolve) => {
      timer = setTimeout(() => resolve(EXPIRED), Math.max(remaining, 0));
    });
    try {
      const outcome = await Promise.race([Promise.resolve().then(fn), expired]);
      if (outcome !== EXPIRED) {
        attempts += 1;
        lastValue = outcome;
        lastError = undefined;
        if (outcome) {
          return outcome as Truthy<T>;
        }
      }
    } catch (err) {
      attempts += 1;
      lastError = err;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() >= deadline) {
      throw new WaitForTimeoutError(
        `timed out after ${timeoutMs} ms waiting for ${options.description} ` +
          `(${attempts} attempts; ${describeLast(attempts, lastValue, lastError)})`,
        lastValue,
        lastError,
      );
    }
    await sleep(Math.min(intervalMs, Math.max(deadline - Date.now(), 0)));
  }
}
