import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { CacheStateService } from '@app/cache';
import { ArtifactError, contentTypeFor, isArtifactError } from '@app/common';
import {
  APP_CONFIG,
  type AppConfig,
  type ProxyRemoteConfig,
  classifyPath,
  isIncluded,
} from '@app/config';
import { HitRecorder } from '@app/db';
import type { FetchKind } from '@app/jobs';
import { MetricsService } from '@app/metrics';
import { STORAGE_DRIVER, type ObjectInfo, type StorageDriver } from '@app/storage';
import { UpstreamClient, UpstreamError, discard } from '@app/upstream';
import { FetchCoordinator } from '../fetching/fetch-coordinator.service';
import { resolveRange } from '../http/byte-range';
import { cleanPath } from '../http/path-guard';
import { artifactHeaders } from '../serving/artifact-headers';
import { artifactKey, isLocal, resolveRemote } from '../serving/remote-resolver';
import type { ServePlan, ServeRequest } from '../serving/serve-plan';
import { sliceStream } from '../serving/slice.transform';
import { StoredFileService } from '../serving/stored-file.service';

type Freshness = 'fresh' | 'expired' | 'unknown';

/**
 * GET/HEAD /api/v1/remote/{remote}/{path}: decides hit, miss, revalidation or stale (SPEC §4, §5)
 * and returns what to send.
 */
@Injectable()
export class ArtifactsService {
  private readonly logger = new Logger(ArtifactsService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly stored: StoredFileService,
    private readonly cacheState: CacheStateService,
    private readonly coordinator: FetchCoordinator,
    private readonly upstream: UpstreamClient,
    private readonly hits: HitRecorder,
    private readonly metrics: MetricsService,
  ) {}

  async serve(remoteName: string, rawPath: string, request: ServeRequest): Promise<ServePlan> {
    const remote = resolveRemote(this.config, remoteName);
    const path = cleanPath(rawPath);
    const key = artifactKey(remote.name, path);
    if (isLocal(remote)) {
      const plan = await this.stored.plan(key, path, 'local', request);
      if (!plan) {
        throw new ArtifactError('not_found', `${remote.name}/${path} does not exist`);
      }
      this.hits.record('hosted_files', remote.name, path);
      return plan;
    }
    if (remote.package === 'docker') {
      throw new ArtifactError(
        'wrong_package',
        `${remote.name} is a docker remote: pull through /v2/${remote.name}/<image>/...`,
      );
    }
    if (!isIncluded(remote, path)) {
      throw new ArtifactError(
        'forbidden',
        `${path} is not allowed by ${remote.name}'s include_patterns`,
      );
    }
    const pathClass = classifyPath(remote, path);
    if (pathClass === 'forbidden') {
      throw new ArtifactError('forbidden', `${path} matches none of ${remote.name}'s patterns`);
    }
    if (pathClass === 'immutable') {
      const hit = await this.stored.plan(key, path, 'cache', request);
      if (hit) {
        return this.countHit(remote, path, hit);
      }
      return this.miss(remote, path, key, 'immutable', request);
    }
    return this.serveMutable(remote, path, key, request);
  }

  private async serveMutable(
    remote: ProxyRemoteConfig,
    path: string,
    key: string,
    request: ServeRequest,
  ): Promise<ServePlan> {
    const [freshness, info] = await Promise.all([
      this.freshness(remote, path),
      this.storage.head(key),
    ]);
    if (!info) {
      return this.miss(remote, path, key, 'mutable', request);
    }
    if (freshness === 'fresh') {
      return this.countHit(remote, path, await this.planStored(key, path, 'cache', request, info));
    }
    if (freshness === 'unknown') {
      return this.serveStale(remote, path, key, request, info, 'redis_unavailable');
    }
    try {
      const outcome = await this.coordinator.fetch(
        { remote: remote.name, path, kind: 'revalidate', storageKey: key, upstreamPath: path },
        streamSilenceMs(remote),
        request.signal,
      );
      if (outcome.kind === 'streaming') {
        this.metrics.cacheMiss(remote.name);
        return this.planStreaming(remote, path, outcome.progress, outcome.body, request);
      }
      const result = outcome.result;
      switch (result.outcome) {
        case 'unchanged':
          return this.countHit(remote, path, await this.planStored(key, path, 'cache', request));
        case 'stale':
          return this.serveStale(remote, path, key, request, undefined, result.reason);
        case 'stored':
          this.metrics.cacheMiss(remote.name);
          return this.planStored(key, path, 'remote', request);
      }
    } catch (error) {
      if (isArtifactError(error, 'upstream_not_found') || !isArtifactError(error)) {
        throw error;
      }
      // The queue or the fetch failed: the copy we hold is still the best answer.
      this.logger.warn(`revalidation of ${remote.name}/${path} failed: ${error.message}`);
      return this.serveStale(remote, path, key, request, info, 'revalidation_failed');
    }
  }

  private async miss(
    remote: ProxyRemoteConfig,
    path: string,
    key: string,
    kind: FetchKind,
    request: ServeRequest,
  ): Promise<ServePlan> {
    if (request.method === 'HEAD') {
      return this.headUpstream(remote, path, request);
    }
    if (await this.knownMissing(remote, path)) {
      throw new ArtifactError(
        'upstream_not_found',
        `${path} was not found upstream (cached answer)`,
      );
    }
    this.metrics.cacheMiss(remote.name);
    const outcome = await this.coordinator.fetch(
      { remote: remote.name, path, kind, storageKey: key, upstreamPath: path },
      streamSilenceMs(remote),
      request.signal,
    );
    if (outcome.kind === 'streaming') {
      return this.planStreaming(remote, path, outcome.progress, outcome.body, request);
    }
    return this.planStored(
      key,
      path,
      outcome.result.outcome === 'stale' ? 'stale' : 'remote',
      request,
    );
  }

  private planStreaming(
    remote: ProxyRemoteConfig,
    path: string,
    progress: { contentLength: number | null; contentType: string | null; sha256: string | null },
    body: Readable,
    request: ServeRequest,
  ): ServePlan {
    const description = {
      path,
      size: progress.contentLength,
      sha256: progress.sha256,
      contentType: progress.contentType ?? contentTypeFor(path),
      lastModified: null,
    };
    const range =
      progress.contentLength !== null
        ? resolveRangeOrNull(request.range, progress.contentLength)
        : null;
    const headers = artifactHeaders(description, 'remote', range);
    if (request.method === 'HEAD') {
      body.destroy();
      return { status: range ? 206 : 200, source: 'remote', headers, body: null };
    }
    if (range) {
      return {
        status: 206,
        source: 'remote',
        headers,
        body: body.pipe(sliceStream(range.start, range.end)),
      };
    }
    return { status: 200, source: 'remote', headers, body };
  }

  private async planStored(
    key: string,
    path: string,
    source: 'cache' | 'remote' | 'stale',
    request: ServeRequest,
    info?: ObjectInfo,
  ): Promise<ServePlan> {
    const plan = await this.stored.plan(key, path, source, request, info);
    if (!plan) {
      // Published a moment ago and gone already: only a concurrent flush does that.
      throw new ArtifactError('upstream_unavailable', `${path} vanished from storage; try again`);
    }
    return plan;
  }

  private async serveStale(
    remote: ProxyRemoteConfig,
    path: string,
    key: string,
    request: ServeRequest,
    info: ObjectInfo | undefined,
    reason: string,
  ): Promise<ServePlan> {
    this.metrics.stale(remote.name, reason);
    this.hits.record('cached_artifacts', remote.name, path);
    return this.planStored(key, path, 'stale', request, info);
  }

  private countHit(remote: ProxyRemoteConfig, path: string, plan: ServePlan): ServePlan {
    this.metrics.cacheHit(remote.name);
    this.hits.record('cached_artifacts', remote.name, path);
    return plan;
  }

  /** One Redis round trip; a Redis failure means "unknown", so the copy is served stale. */
  private async freshness(remote: ProxyRemoteConfig, path: string): Promise<Freshness> {
    try {
      return (await this.cacheState.isFresh(remote.name, path)) ? 'fresh' : 'expired';
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
        {
          retryAfter: 5,
        },
      );
    }
  }

  /** SPEC §4: HEAD of a miss is answered from an upstream HEAD, without caching. */
  private async headUpstream(
    remote: ProxyRemoteConfig,
    path: string,
    request: ServeRequest,
  ): Promise<ServePlan> {
    let response;
    try {
      response = await this.upstream.request(remote, path, {
        method: 'HEAD',
        signal: request.signal,
      });
    } catch (error) {
      throw new ArtifactError(
        'upstream_unavailable',
        error instanceof UpstreamError ? error.message : 'upstream request failed',
      );
    }
    await discard(response.body);
    if (response.status === 404 || response.status === 410) {
      throw new ArtifactError('upstream_not_found', `${path} was not found upstream`);
    }
    if (response.status !== 200) {
      throw new ArtifactError('upstream_unavailable', `upstream answered ${response.status}`);
    }
    const length = response.headers['content-length'];
    const headers = artifactHeaders(
      {
        path,
        size: length !== undefined && /^\d+$/.test(length) ? Number(length) : null,
        sha256: null,
        contentType: contentTypeFor(path, response.headers['content-type']),
        lastModified: null,
      },
      'remote',
    );
    return { status: 200, source: 'remote', headers, body: null };
  }
}

function streamSilenceMs(remote: ProxyRemoteConfig): number {
  return (remote.upstreamTimeout + 30) * 1000;
}

function resolveRangeOrNull(header: string | undefined, size: number) {
  try {
    return resolveRange(header, size);
  } catch {
    // An unsatisfiable range on a miss: send the whole file rather than failing the fetch's first client.
    return null;
  }
}
