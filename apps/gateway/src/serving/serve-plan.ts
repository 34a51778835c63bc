import type { Readable } from 'node:stream';
import type { ArtifactSource } from '@app/metrics';

/** What a route answers: decided by a service, written to the reply by ReplyWriter. */
export interface ServePlan {
  status: 200 | 206 | 304;
  source: ArtifactSource;
  headers: Record<string, string>;
  /** null for HEAD and 304 */
  body: Readable | null;
}

/** The parts of a client request that shape an artifact response. */
export interface ServeRequest {
  method: 'GET' | 'HEAD';
  range: string | undefined;
  ifNoneMatch: string | undefined;
  ifModifiedSince: string | undefined;
  ifRange: string | undefined;
  accept: string | undefined;
  /** aborts when the client goes away */
  signal: AbortSignal;
  /** carried into the fetch job, so the fetcher's log lines name the request that caused them */
  requestId: string;
}
