import { Injectable, Logger } from '@nestjs/common';
import { type Readable, pipeline } from 'node:stream';
import { CacheStateService } from '@app/cache';
import { ArtifactError, contentTypeFor, httpDate, isArtifactError } from '@app/common';
import type { ProxyRemoteConfig } from '@app/config';
import { HitRecorder } from '@app/db';
import { type FetchTarget, fetchRequestOf } from '@app/formats';
import type { FetchKind, FetchRequest, StreamingProgress } from '@app/jobs';
import { MetricsService } from '@app/metrics';
import { UpstreamClient, UpstreamError, discard } from '@app/upstream';
import { FetchCoordinator } from '../fetching/fetch-coordinator.service';
import { resolveRange } from '../http/byte-range';
import type { RegistryErrorCode } from '../errors/error-status';
import { type HeaderBuilder, describeObject, ifRangeMatches } from './artifact-headers';
import { MemoryHits } from './memory-hits.service';
import { RemoteStates } from './remote-states.service';
import {
  type Freshness,
  type Revalidation,
  decideLookup,
  decideMiss,
  decideRevalidated,
} from './pull-decision';
import { type ServePlan, type ServeRequest, discardPlan } from './serve-plan';
import { sliceStream } from './slice.transform';
import { StoredFileService } from './stored-file.service';

/** One artifact of a proxy remote, as a route understood it. */
export interface PullTarget {
  remote: ProxyRemoteConfig;
  /** the job path: TTL markers, negative cache, job id, records */
  path: string;
  /** where it comes from and goes to (the fetcher derives the same from remote + path) */
  fetch: FetchTarget;
  headers: HeaderBuilder;
  /** HEAD of a miss: ask the upstream (files) or fetch and cache it (docker manifests) */
  headMiss: 'upstream_head' | 'fetch';
  /** registry error code of an upstream 404 on /v2 routes */
  notFoundCode?: RegistryErrorCode;
}

const RETRY_AFTER_SECONDS = 5;
/** An offline remote stays so until an admin (or a config change) brings it back. */
const OFFLINE_RETRY_AFTER_SECONDS = 60;
/** Header sets kept per object held in memory (one per path that names it). */
const MAX_HEADER_SETS = 8;

/**
 * The pull-through decision (docs/CACHING.md), shared by every route of a proxy remote: hit, miss
 * (one fetch job, streamed), revalidation of an expired mutable file, or a stale copy.
 */
@Injectable()
export class PullThroughService {
  private readonly logger = new Logger(PullThroughService.name);

  constructor(
    private readonly stored: StoredFileService,
    private readonly cacheState: CacheStateService,
    private readonly coordinator: FetchCoordinator,
    private readonly upstream: UpstreamClient,
    private readonly hits: HitRecorder,
    private readonly metrics: MetricsService,
    private readonly memory: MemoryHits,
    private readonly states: RemoteStates,
  ) {}

  async serve(target: PullTarget, request: ServeRequest): Promise<ServePlan> {
    const { pathClass, storageKey } = target.fetch;
    if (pathClass === 'immutable' && isPlain(request)) {
      const held = this.memoryHit(target, request.method);
      if (held) {
        return held;
      }
    }
    // For a mutable file the freshness check and the storage read run together: a fresh hit
    // costs one Redis round trip and one storage read, nothing more.
    const [freshness, cached] = await Promise.all([
      pathClass === 'mutable' ? this.freshness(target.remote, target.path) : null,
      this.stored.plan(storageKey, target.path, target.headers, 'cache', request),
    ]);
    const offline = this.states.isOffline(target.remote);
    const decision = decideLookup({ pathClass, offline, stored: cached !== null, freshness });
    if (decision.next === 'hit' && cached) {
      return this.countHit(target, pathClass === 'immutable' ? this.keepInMemory(cached) : cached);
    }
    // Not a plain hit: that answer is not sent, and the rare paths below read again.
    if (cached) {
      discardPlan(cached);
    }
    switch (decision.next) {
      case 'hit': // with a copy, answered above
      case 'miss':
        return this.miss(target, request);
      case 'stale':
        return this.serveStaleOrMiss(target, request, decision.reason);
      case 'revalidate':
        return this.revalidate(target, request);
    }
  }

  /**
   * A plain GET or HEAD (no Range, no conditions) of an immutable file held in memory, counted
   * as the hit it is; null otherwise. Synchronous: the hit route answers it before any routing.
   */
  memoryHit(target: PullTarget, method: 'GET' | 'HEAD'): ServePlan | null {
    if (target.fetch.pathClass !== 'immutable') {
      return null;
    }
    const entry = this.memory.get(target.fetch.storageKey);
    if (!entry) {
      return null;
    }
    let headers = entry.headers.get(target.path);
    if (!headers) {
      headers = Object.freeze(
        target.headers(describeObject(entry.info, target.path), 'cache', null),
      );
      // Paths naming one object: one per docker image sharing a blob, bounded to a few.
      if (entry.headers.size < MAX_HEADER_SETS) {
        entry.headers.set(target.path, headers);
      }
    }
    return this.countHit(target, {
      status: 200,
      source: 'cache',
      headers,
      body: method === 'HEAD' ? null : entry.body,
    });
  }

  /**
   * A plain GET of an immutable file from storage, counted as a hit (and kept in memory when
   * small); null when it is not stored. For the hit route: a miss goes through `serve`.
   */
  async storedHit(target: PullTarget): Promise<ServePlan | null> {
    if (target.fetch.pathClass !== 'immutable') {
      return null;
    }
    const hit = await this.stored.plan(
      target.fetch.storageKey,
      target.path,
      target.headers,
      'cache',
      PLAIN_GET,
    );
    return hit && this.countHit(target, this.keepInMemory(hit));
  }

  private keepInMemory(plan: ServePlan): ServePlan {
    if (!plan.object || !plan.body || Buffer.isBuffer(plan.body)) {
      return plan;
    }
    return { ...plan, body: this.memory.keep(plan.object, plan.body) };
  }

  private async revalidate(target: PullTarget, request: ServeRequest): Promise<ServePlan> {
    const { remote, path } = target;
    let outcome;
    try {
      outcome = await this.coordinator.fetch(
        this.fetchRequest(target, 'revalidate', request),
        streamSilenceMs(remote),
        request.signal,
      );
    } catch (error) {
      const failure = revalidationFailure(error);
      if (decideRevalidated(failure).next === 'fail') {
        throw this.named(target, error);
      }
      this.logger.warn(
        `revalidation of ${remote.name}/${path} failed: ${(error as Error).message}`,
      );
      return this.serveStaleOrMiss(target, request, 'revalidation_failed');
    }
    if (outcome.kind === 'streaming') {
      // The upstream sent a new copy, streamed as it is stored.
      this.metrics.cacheMiss(remote.name);
      return this.planStreaming(target, outcome.progress, outcome.body, request);
    }
    // Read after the fetch: a flush may have removed the copy in between; then it is a miss.
    const decision = decideRevalidated(outcome.result);
    switch (decision.next) {
      case 'hit': {
        const plan = await this.planStored(target, 'cache', request);
        return plan ? this.countHit(target, plan) : this.miss(target, request);
      }
      case 'changed':
        this.metrics.cacheMiss(remote.name);
        return (await this.planStored(target, 'remote', request)) ?? this.miss(target, request);
      case 'stale':
        return this.serveStaleOrMiss(target, request, decision.reason);
      case 'fail':
        throw new Error(`unreachable: a revalidation result ${outcome.result.outcome} that fails`);
    }
  }

  /**
   * `again`: this miss follows a fetch whose result a concurrent flush removed before it could be
   * read; once more at most, then the client is told to retry.
   */
  private async miss(target: PullTarget, request: ServeRequest, again = false): Promise<ServePlan> {
    const { remote, path } = target;
    const decision = await decideMiss({
      method: request.method,
      offline: this.states.isOffline(remote),
      headMiss: target.headMiss,
      knownMissing: () => this.knownMissing(remote, path),
    });
    if (decision === 'offline') {
      const tripped = this.states.causeOf(remote) === 'circuit';
      throw new ArtifactError(
        'service_unavailable',
        tripped
          ? `${remote.name}'s upstream is failing (circuit open): only cached files are served, and ${path} is not cached`
          : `${remote.name} is offline: only cached files are served, and ${path} is not cached`,
        {
          retryAfter: tripped
            ? (this.states.secondsUntilRetry(remote) ?? remote.circuit.openForSeconds)
            : OFFLINE_RETRY_AFTER_SECONDS,
        },
      );
    }
    if (decision === 'head_upstream') {
      return this.headUpstream(target, request);
    }
    if (decision === 'not_found') {
      throw this.named(
        target,
        new ArtifactError('upstream_not_found', `${path} was not found upstream (cached answer)`),
      );
    }
    const kind: FetchKind = target.fetch.pathClass;
    this.metrics.cacheMiss(remote.name);
    let outcome;
    try {
      outcome = await this.coordinator.fetch(
        this.fetchRequest(target, kind, request),
        streamSilenceMs(remote),
        request.signal,
      );
    } catch (error) {
      throw this.named(target, error);
    }
    if (outcome.kind === 'streaming') {
      return this.planStreaming(target, outcome.progress, outcome.body, request);
    }
    const plan = await this.planStored(
      target,
      outcome.result.outcome === 'stale' ? 'stale' : 'remote',
      request,
    );
    if (plan) {
      return plan;
    }
    if (again) {
      throw new ArtifactError(
        'service_unavailable',
        `${target.path} was removed from storage (a flush) as it was fetched; try again`,
        { retryAfter: 1 },
      );
    }
    return this.miss(target, request, true);
  }

  private fetchRequest(target: PullTarget, kind: FetchKind, request: ServeRequest): FetchRequest {
    return fetchRequestOf(target.remote.name, target.path, kind, target.fetch, request.requestId);
  }

  /**
   * A miss answered while it streams. A Range is honoured when the size is known and If-Range (if
   * any) names this content; the range's last byte waits for the whole fetch to be verified and
   * published, like the last byte of a whole body does, so no client completes on unchecked bytes.
   */
  private planStreaming(
    target: PullTarget,
    progress: StreamingProgress,
    body: Readable,
    request: ServeRequest,
  ): ServePlan {
    const description = {
      path: target.path,
      size: progress.contentLength,
      sha256: progress.sha256,
      contentType: progress.contentType ?? contentTypeFor(target.path),
      lastModified: httpDate(progress.upstreamHeaders?.['last-modified']) ?? null,
    };
    const etag = target.headers(description, 'remote', null).etag ?? null;
    let range = null;
    if (progress.contentLength !== null && ifRangeMatches(request.ifRange, etag, null)) {
      try {
        range = resolveRange(request.range, progress.contentLength);
      } catch (error) {
        body.destroy();
        throw error;
      }
    }
    const headers = target.headers(description, 'remote', range);
    const status = range ? 206 : 200;
    if (request.method === 'HEAD') {
      body.destroy();
      return { status, source: 'remote', headers, body: null };
    }
    if (!range) {
      return { status, source: 'remote', headers, body };
    }
    // pipeline, not pipe: a fetch that fails must break the ranged response too.
    const slice = sliceStream(range.start, range.end, { holdLastByteUntilEnd: true });
    return { status, source: 'remote', headers, body: pipeline(body, slice, () => undefined) };
  }

  /** The stored copy, or null when it is gone (a concurrent flush). */
  private planStored(
    target: PullTarget,
    source: 'cache' | 'remote' | 'stale',
    request: ServeRequest,
  ): Promise<ServePlan | null> {
    return this.stored.plan(target.fetch.storageKey, target.path, target.headers, source, request);
  }

  /** The copy we hold, marked stale and counted; a miss when there is none any more. */
  private async serveStaleOrMiss(
    target: PullTarget,
    request: ServeRequest,
    reason: string,
  ): Promise<ServePlan> {
    const plan = await this.planStored(target, 'stale', request);
    if (!plan) {
      return this.miss(target, request);
    }
    this.metrics.stale(target.remote.name, reason);
    this.hits.record('cached_artifacts', target.remote.name, target.path);
    return plan;
  }

  private countHit(target: PullTarget, plan: ServePlan): ServePlan {
    this.metrics.cacheHit(target.remote.name);
    this.hits.record('cached_artifacts', target.remote.name, target.path);
    return plan;
  }

  /** One Redis round trip; a Redis failure means "unknown", so the copy is served stale. */
  private async freshness(remote: ProxyRemoteConfig, path: string): Promise<Freshness> {
    try {
      const marker = await this.cacheState.marker(remote.name, path);
      return marker.state === 'unconfirmed' ? { unconfirmed: marker.reason } : marker.state;
    } catch {
      return 'unknown';
    }
  }

  private async knownMissing(remote: ProxyRemoteConfig, path: string): Promise<boolean> {
    try {
      return await this.cacheState.isKnownMissing(remote.name, path);
    } catch {
      throw new ArtifactError(
        'service_unavailable',
        'Redis is unavailable; cached files are still served',
        { retryAfter: RETRY_AFTER_SECONDS },
      );
    }
  }

  /** A HEAD of a miss is answered from an upstream HEAD, without caching (docs/HTTP-API.md). */
  private async headUpstream(target: PullTarget, request: ServeRequest): Promise<ServePlan> {
    const { fetch } = target;
    let response;
    try {
      response = await this.upstream.request(target.remote, fetch.upstreamPath, {
        method: 'HEAD',
        signal: request.signal,
        scope: fetch.scope,
        baseUrl: fetch.upstreamBaseUrl,
        headers: fetch.accept ? { accept: fetch.accept } : {},
      });
    } catch (error) {
      if (error instanceof UpstreamError && error.failure === 'throttled') {
        throw new ArtifactError('upstream_rate_limited', error.message, {
          retryAfter: error.retryAfter ?? RETRY_AFTER_SECONDS,
        });
      }
      const timedOut = error instanceof UpstreamError && error.failure === 'timeout';
      throw new ArtifactError(
        timedOut ? 'upstream_timeout' : 'upstream_unavailable',
        error instanceof Error ? error.message : 'upstream request failed',
        { retryAfter: RETRY_AFTER_SECONDS },
      );
    }
    await discard(response.body);
    if (response.status === 404 || response.status === 410) {
      throw this.named(
        target,
        new ArtifactError('upstream_not_found', `${target.path} was not found upstream`),
      );
    }
    if (response.status !== 200) {
      throw new ArtifactError('upstream_unavailable', `upstream answered ${response.status}`, {
        retryAfter: RETRY_AFTER_SECONDS,
      });
    }
    const length = response.headers['content-length'];
    const headers = target.headers(
      {
        path: target.path,
        size: length !== undefined && /^\d+$/.test(length) ? Number(length) : null,
        sha256: fetch.expectedSha256 ?? null,
        contentType: contentTypeFor(target.path, response.headers['content-type']),
        lastModified: null,
      },
      'remote',
      null,
    );
    return { status: 200, source: 'remote', headers, body: null };
  }

  /** Registry routes answer an upstream 404 with their own code (BLOB_UNKNOWN, ...). */
  private named(target: PullTarget, error: unknown): unknown {
    if (isArtifactError(error, 'upstream_not_found') && target.notFoundCode) {
      return new ArtifactError('upstream_not_found', error.message, {
        ...error.detail,
        registryCode: target.notFoundCode,
      });
    }
    return error;
  }
}

/** A plain GET from the hit route, which never aborts a read: a body stops when its socket does. */
const PLAIN_GET: ServeRequest = {
  method: 'GET',
  range: undefined,
  ifNoneMatch: undefined,
  ifModifiedSince: undefined,
  ifRange: undefined,
  accept: undefined,
  requestId: '-',
};

/** No Range and no condition: the answer is the whole body, the same for every client. */
function isPlain(request: ServeRequest): boolean {
  return (
    request.range === undefined &&
    request.ifNoneMatch === undefined &&
    request.ifModifiedSince === undefined &&
    request.ifRange === undefined
  );
}

/** A failed revalidation fetch, as the decision sees it. */
function revalidationFailure(error: unknown): Revalidation {
  const failure = isArtifactError(error, 'upstream_not_found')
    ? 'not_found'
    : isArtifactError(error)
      ? 'unavailable'
      : 'unexpected';
  return { outcome: 'failed', failure };
}

function streamSilenceMs(remote: ProxyRemoteConfig): number {
  return (remote.upstreamTimeout + 30) * 1000;
}
