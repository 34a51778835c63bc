import type { Readable } from 'node:stream';
import type { ArtifactSource } from '@app/metrics';
import type { ObjectInfo } from '@app/storage';

/** What a route answers: decided by a service, written to the reply by ReplyWriter. */
export interface ServePlan {
  status: 200 | 206 | 304;
  source: ArtifactSource;
  headers: Record<string, string>;
  /** null for HEAD and 304; a Buffer when served from memory */
  body: Readable | Buffer | null;
  /** the stored object a whole-body answer streams (the memory tier keeps small ones) */
  object?: ObjectInfo;
}

/** The parts of a client request that shape an artifact response. */
export interface ServeRequest {
  method: 'GET' | 'HEAD';
  range: string | undefined;
  ifNoneMatch: string | undefined;
  ifModifiedSince: string | undefined;
  ifRange: string | undefined;
  accept: string | undefined;
  /**
   * Aborts when the client goes away. Absent for the hit route's reads, which a closing socket
   * stops by itself (one signal shared by all of them gathered a listener per concurrent read).
   */
  signal?: AbortSignal;
  /** carried into the fetch job, so the fetcher's log lines name the request that caused them */
  requestId: string;
}

/** Releases a plan that will not be sent (its storage read, if any). */
export function discardPlan(plan: ServePlan): void {
  if (plan.body && !Buffer.isBuffer(plan.body)) {
    plan.body.destroy();
  }
}
