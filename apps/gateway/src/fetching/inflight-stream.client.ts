import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type FileHandle, open } from 'node:fs/promises';
import * as http from 'node:http';
import type { Readable } from 'node:stream';
import { APP_CONFIG, type AppConfig } from '@app/config';
import type { StreamingProgress } from '@app/jobs';
import { MetricsService } from '@app/metrics';
import { discard, httpRequest } from '@app/upstream';
import { SpoolFollower } from './spool-follower';

const HEADERS_TIMEOUT_MS = 10_000;

/**
 * Opens a fetcher's in-flight stream. A refused connection or a 404 means that attempt is over
 * (finished, failed or its fetcher died): the caller goes on waiting for the job's outcome.
 * On the fetcher's host the bytes are read from its spool file (SpoolFollower) and only the
 * windows cross the socket; anywhere else, or with SPOOL_DIRECT_READ=false, they come over HTTP.
 */
@Injectable()
export class InflightStreamClient implements OnApplicationShutdown {
  // No socket cap: every waiting client streams, however many wait on one fetcher.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  async open(
    progress: Pick<StreamingProgress, 'streamUrl' | 'spool'>,
    silenceTimeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Readable | null> {
    const file = this.config.spoolDirectRead ? await openSpool(progress.spool) : null;
    if (!file) {
      const body = await this.get(progress.streamUrl, silenceTimeoutMs, signal);
      if (body) {
        this.metrics.inflightStream('http');
      }
      return body;
    }
    let windows: Readable | null;
    try {
      windows = await this.get(`${progress.streamUrl}/windows`, silenceTimeoutMs, signal);
    } catch (error) {
      await file.close().catch(() => undefined);
      throw error;
    }
    if (!windows) {
      await file.close().catch(() => undefined);
      return null;
    }
    this.metrics.inflightStream('spool_file');
    return new SpoolFollower(file, windows);
  }

  /** The body of a 200 from the fetcher; null when the attempt is over. */
  private async get(
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
        headersTimeoutMs: HEADERS_TIMEOUT_MS,
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

/** The fetcher's spool file, when this process can open that very file (same host). */
async function openSpool(spool: StreamingProgress['spool']): Promise<FileHandle | null> {
  if (!spool) {
    return null;
  }
  let file: FileHandle;
  try {
    file = await open(spool.path, 'r');
  } catch {
    return null;
  }
  const info = await file.stat().catch(() => null);
  if (info?.dev === spool.device && info.ino === spool.inode) {
    return file;
  }
  await file.close().catch(() => undefined);
  return null;
}
