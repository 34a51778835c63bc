import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { ProxyRemoteConfig } from '@app/config';
import { circuitFailuresKey, circuitOpenKey } from './cache-keys';
import { REDIS } from './redis.provider';

/**
 * Counts a failure; opens the circuit when the count reaches the threshold. While the circuit is
 * open the count outlives it, so that after open_for the first answer decides: a failure opens it
 * again at once, a success closes it (CircuitBreaker.succeeded deletes the count).
 */
const FAILED = `
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('pexpire', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) and redis.call('set', KEYS[2], ARGV[4], 'PX', ARGV[3], 'NX') then
  redis.call('pexpire', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[1]))
  return n
end
return 0`;

/** Longest a 429's Retry-After keeps a remote alone: beyond an hour it is asked again. */
const MAX_BACK_OFF_SECONDS = 3600;

/** What an open circuit's key holds: since when, and until when, it is open. */
export interface OpenCircuit {
  since: string;
  until: string;
}

function openState(forMs: number): string {
  const now = Date.now();
  const state: OpenCircuit = {
    since: new Date(now).toISOString(),
    until: new Date(now + forMs).toISOString(),
  };
  return JSON.stringify(state);
}

/**
 * A circuit breaker per remote, shared by every replica through Redis: `circuit.failures`
 * failures within `circuit.window` seconds take the remote offline for `circuit.open_for`
 * seconds (docs/CACHING.md#the-circuit-breaker). Failures to reach Redis count as nothing.
 */
@Injectable()
export class CircuitBreaker {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** Returns the failure count when this failure opened the circuit, else null. */
  async failed(remote: ProxyRemoteConfig): Promise<number | null> {
    const { failures, windowSeconds, openForSeconds } = remote.circuit;
    if (failures === 0) {
      return null;
    }
    const opened = await this.redis
      .eval(
        FAILED,
        2,
        circuitFailuresKey(remote.name),
        circuitOpenKey(remote.name),
        windowSeconds * 1000,
        failures,
        openForSeconds * 1000,
        openState(openForSeconds * 1000),
      )
      .catch(() => 0);
    return Number(opened) > 0 ? Number(opened) : null;
  }

  /**
   * The upstream answered 429: every replica leaves it alone for `seconds` (its Retry-After),
   * after which the first answer decides, as after any opening.
   */
  async backOff(remote: ProxyRemoteConfig, seconds: number): Promise<void> {
    const ms = Math.max(1, Math.min(seconds, MAX_BACK_OFF_SECONDS)) * 1000;
    const failures = Math.max(1, remote.circuit.failures);
    await this.redis
      .multi()
      .set(circuitOpenKey(remote.name), openState(ms), 'PX', ms)
      .set(
        circuitFailuresKey(remote.name),
        failures,
        'PX',
        ms + remote.circuit.windowSeconds * 1000,
      )
      .exec()
      .catch(() => undefined);
  }

  /** True when this success closed a circuit that had opened (its count was still there). */
  async succeeded(remote: ProxyRemoteConfig): Promise<boolean> {
    if (remote.circuit.failures === 0) {
      return false;
    }
    const count = await this.redis.getdel(circuitFailuresKey(remote.name)).catch(() => null);
    return count !== null && Number(count) >= remote.circuit.failures;
  }
}
