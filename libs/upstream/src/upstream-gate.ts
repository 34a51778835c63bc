import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamLimits } from '@app/cache';
import type { ProxyRemoteConfig } from '@app/config';
import { MetricsService } from '@app/metrics';
import { UpstreamError } from './upstream-error';

/** A slot's lease outlives a holder that died by this long at most; renewed at a third of it. */
const SLOT_LEASE_MS = 30_000;
/** How often a request waiting for a slot asks again (with jitter, so waiters spread out). */
const SLOT_POLL_MS = 200;

/** Gives back what `admit` took; safe to call more than once. */
export type Release = () => void;

/**
 * The remote's request shaping, before each upstream request: a free slot of max_concurrent,
 * then a token of max_requests_per_minute, both shared by every replica. A request waits for
 * them at most the remote's upstream_timeout, as it would wait for a slow upstream's headers;
 * beyond that it fails as `throttled`, with the seconds after which asking again makes sense.
 */
@Injectable()
export class UpstreamGate {
  constructor(
    private readonly limits: UpstreamLimits,
    private readonly metrics: MetricsService,
  ) {}

  async admit(remote: ProxyRemoteConfig, signal?: AbortSignal): Promise<Release> {
    const deadline = Date.now() + remote.upstreamTimeout * 1000;
    const release =
      remote.maxConcurrent === null ? () => undefined : await this.slot(remote, deadline, signal);
    try {
      if (remote.maxRequestsPerMinute !== null) {
        await this.token(remote, remote.maxRequestsPerMinute, deadline, signal);
      }
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  private async token(
    remote: ProxyRemoteConfig,
    perMinute: number,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let waited = false;
    for (;;) {
      const waitMs = await this.limits.takeToken(remote.name, perMinute);
      if (waitMs === 0) {
        return;
      }
      if (!waited) {
        waited = true;
        this.metrics.upstreamThrottled(remote.name, 'max_requests_per_minute');
      }
      if (Date.now() + waitMs > deadline) {
        throw new UpstreamError(
          'throttled',
          `${remote.name}'s budget of ${perMinute} upstream requests a minute is spent; the next is due in ${Math.ceil(waitMs / 1000)} s`,
          undefined,
          Math.ceil(waitMs / 1000),
        );
      }
      await sleep(waitMs + Math.random() * 50, undefined, { signal });
    }
  }

  private async slot(
    remote: ProxyRemoteConfig,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<Release> {
    const max = remote.maxConcurrent ?? 1;
    const lease = randomUUID();
    let waited = false;
    while (!(await this.limits.takeSlot(remote.name, max, lease, SLOT_LEASE_MS))) {
      if (!waited) {
        waited = true;
        this.metrics.upstreamThrottled(remote.name, 'max_concurrent');
      }
      if (Date.now() >= deadline) {
        throw new UpstreamError(
          'throttled',
          `all ${max} upstream requests ${remote.name} may have open at once stayed busy for ${remote.upstreamTimeout} s`,
          undefined,
          Math.ceil(remote.upstreamTimeout),
        );
      }
      await sleep(SLOT_POLL_MS * (0.5 + Math.random()), undefined, { signal });
    }
    const renewal = setInterval(
      () => void this.limits.renewSlot(remote.name, lease, SLOT_LEASE_MS),
      SLOT_LEASE_MS / 3,
    );
    renewal.unref();
    let released = false;
    return () => {
      if (!released) {
        released = true;
        clearInterval(renewal);
        void this.limits.releaseSlot(remote.name, lease);
      }
    };
  }
}
