import { Injectable, Logger } from '@nestjs/common';
import { CircuitBreaker } from '@app/cache';
import type { ProxyRemoteConfig } from '@app/config';
import { type UpstreamAnswer, upstreamFailed } from './upstream-answer';

/**
 * Every upstream answer, on any replica, moves the remote's circuit breaker
 * (docs/CACHING.md#the-circuit-breaker): failures open it, a 429 backs every replica off for its
 * Retry-After, a good answer closes it. Each transition is a log line of the replica that saw it.
 */
@Injectable()
export class UpstreamHealth {
  private readonly logger = new Logger(UpstreamHealth.name);

  constructor(private readonly breaker: CircuitBreaker) {}

  async note(remote: ProxyRemoteConfig, answer: UpstreamAnswer): Promise<void> {
    if ('failure' in answer && answer.failure === 'throttled') {
      // Never sent: it says nothing about the upstream.
      return;
    }
    if ('status' in answer && answer.status === 429 && remote.circuit.failures > 0) {
      const seconds = answer.retryAfter ?? remote.circuit.openForSeconds;
      await this.breaker.backOff(remote, seconds);
      this.logger.warn(
        `${remote.name} answered 429: every replica leaves it alone for ${seconds} s (only cached files are served)`,
      );
      return;
    }
    if (upstreamFailed(answer)) {
      const count = await this.breaker.failed(remote);
      if (count !== null) {
        this.logger.warn(
          `circuit of ${remote.name} opened after ${count} upstream failures within ${remote.circuit.windowSeconds} s: only cached files are served for ${remote.circuit.openForSeconds} s`,
        );
      }
    } else if (await this.breaker.succeeded(remote)) {
      this.logger.log(`circuit of ${remote.name} closed: its upstream answers again`);
    }
  }
}
