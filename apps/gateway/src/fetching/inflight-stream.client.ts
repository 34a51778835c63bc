import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import * as http from 'node:http';
import type { Readable } from 'node:stream';
import { discard, httpRequest } from '@app/upstream';

/**
 * Opens a fetcher's in-flight stream. A refused connection or a 404 means that attempt is over
 * (finished, failed or its fetcher died): the caller goes on waiting for the job's outcome.
 */
@Injectable()
export class InflightStreamClient implements OnApplicationShutdown {
  // No socket cap: every waiting client streams, however many wait on one fetcher.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

  async open(
    url: string,
    silenceTimeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Readable | null> {
    try {
      const response = await httpRequest(new URL(url), {
        method: 'GET',
        headers: {},
        agent: this.agent,
        signal,
        headersTimeoutMs: 10_000,
        idleTimeoutMs: silenceTimeoutMs,
      });
      if (response.status === 200) {
        return response.body;
      }
      await discard(response.body);
      return null;
    } catch (error) {
      if (signal?.aborted) {
        throw error;
      }
      return null;
    }
  }

  onApplicationShutdown(): void {
    this.agent.destroy();
  }
}
