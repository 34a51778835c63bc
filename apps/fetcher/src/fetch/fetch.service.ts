import { Inject, Injectable, Logger } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CacheStateService } from '@app/cache';
import { ArtifactError, contentTypeFor, isArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig } from '@app/config';
import { ArtifactRecordsService } from '@app/db';
import {
  type FetchFailureReason,
  type FetchJobPayload,
  type FetchJobResult,
  type StaleReason,
  type StoredArtifact,
  formatFailure,
} from '@app/jobs';
import { MetricsService } from '@app/metrics';
import {
  HashingTransform,
  type ObjectInfo,
  STORAGE_DRIVER,
  type StorageDriver,
} from '@app/storage';
import { UpstreamClient, UpstreamError, type UpstreamResponse, discard } from '@app/upstream';
import { InflightRegistry } from '../inflight/inflight.registry';
import { readManifest } from './manifest-document';

/** A failure that BullMQ must not retry (upstream 404, digest mismatch, refused request). */
class FinalFailure extends Error {
  constructor(
    readonly reason: FetchFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/** Upstream response headers worth passing to waiting gateways before the bytes. */
const PASSED_HEADERS = ['docker-content-digest', 'etag', 'last-modified'];

/**
 * Runs one fetch job: upstream → spool file → storage, with every waiting client following the
 * spool through the in-flight endpoint. The fetch belongs to this job, not to any request: no
 * client leaving stops it, and it publishes once.
 */
@Injectable()
export class FetchService {
  private readonly logger = new Logger(FetchService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly upstream: UpstreamClient,
    private readonly cacheState: CacheStateService,
    private readonly records: ArtifactRecordsService,
    private readonly metrics: MetricsService,
    private readonly inflight: InflightRegistry,
  ) {}

  async run(job: Job<FetchJobPayload, FetchJobResult>): Promise<FetchJobResult> {
    const payload = job.data;
    const remote = this.config.remotes[payload.remote];
    if (!remote || remote.package === 'local') {
      throw new UnrecoverableError(
        formatFailure(
          'upstream_unavailable',
          `remote ${payload.remote} is not configured on this fetcher`,
        ),
      );
    }
    const started = performance.now();
    try {
      const result = await this.execute(job, remote);
      const seconds = (performance.now() - started) / 1000;
      const bytes = result.outcome === 'stored' ? result.size : 0;
      this.metrics.fetched(remote.name, result.outcome, seconds, bytes);
      this.logger.log(
        `${remote.name} ${payload.path} ${result.outcome} ${bytes} bytes in ${seconds.toFixed(3)} s`,
      );
      return result;
    } catch (error) {
      const seconds = (performance.now() - started) / 1000;
      const { reason, message, final } = classify(error);
      this.metrics.fetched(remote.name, 'failed', seconds, 0);
      this.metrics.fetchFailed(remote.name, reason);
      const failure = formatFailure(reason, message);
      const attempts = job.opts.attempts ?? 1;
      this.logger.warn(
        `${remote.name} ${payload.path} failed after ${seconds.toFixed(3)} s (attempt ${job.attemptsMade + 1}/${attempts}, ${final ? 'final' : 'will retry'}): ${message}`,
      );
      if (final) {
        throw new UnrecoverableError(failure);
      }
      if (job.attemptsMade + 1 < attempts) {
        await job.updateProgress({ phase: 'retrying', failure }).catch(() => undefined);
      }
      throw new Error(failure);
    }
  }

  private async execute(
    job: Job<FetchJobPayload>,
    remote: ProxyRemoteConfig,
  ): Promise<FetchJobResult> {
    const payload = job.data;
    const cached = await this.storage.head(payload.storageKey);
    if (cached && payload.kind !== 'revalidate') {
      // Another job published it while this one waited (or a gateway raced a publish): done.
      const reusable =
        payload.kind === 'immutable' || (await this.cacheState.isFresh(remote.name, payload.path));
      if (reusable) {
        return { outcome: 'stored', ...stored(cached) };
      }
    }
    const revalidating = payload.kind === 'revalidate' && cached !== null;
    const manifest = payload.manifestDigestKeyPrefix !== undefined;
    if (revalidating && manifest) {
      const kept = await this.revalidateTag(remote, payload, cached);
      if (kept) {
        return kept;
      }
    }
    const headers: Record<string, string> = {};
    if (payload.accept) {
      headers.accept = payload.accept;
    }
    if (revalidating && remote.checkMutableUpdates && !manifest) {
      const validators = await this.cacheState.getValidators(remote.name, payload.path);
      if (validators.etag) {
        headers['if-none-match'] = validators.etag;
      }
      if (validators.lastModified) {
        headers['if-modified-since'] = validators.lastModified;
      }
    }

    let response: UpstreamResponse;
    try {
      response = await this.upstream.request(remote, payload.upstreamPath, {
        headers,
        scope: payload.scope,
        query: payload.upstreamQuery,
      });
    } catch (error) {
      if (revalidating && error instanceof UpstreamError && error.transient) {
        return this.keepStale(remote, payload, 'unreachable');
      }
      throw error;
    }

    const status = response.status;
    if (status === 200) {
      if (revalidating) {
        this.metrics.revalidated(remote.name, 'changed');
      }
      return manifest
        ? this.storeManifest(remote, payload, response)
        : this.download(job, remote, response);
    }
    await discard(response.body);
    if (status === 304 && revalidating && cached) {
      await this.cacheState.markFresh(remote.name, payload.path, remote.mutableTtl);
      this.metrics.revalidated(remote.name, 'unchanged');
      return { outcome: 'unchanged', ...stored(cached) };
    }
    if (status === 404 || status === 410) {
      if (revalidating && remote.upstreamMissing === 'serve_stale') {
        return this.keepStale(remote, payload, 'upstream_missing');
      }
      if (revalidating) {
        this.metrics.revalidated(remote.name, 'missing');
        await this.forget(remote, payload);
      }
      await this.cacheState.rememberMissing(remote.name, payload.path, remote.negativeTtl);
      throw new FinalFailure(
        'upstream_not_found',
        `upstream answered ${status} for ${payload.path}`,
      );
    }
    const transient = status === 429 || status >= 500;
    if (revalidating && (transient || status === 401 || status === 403)) {
      return this.keepStale(remote, payload, 'unreachable');
    }
    if (transient) {
      throw new UpstreamError('status', `upstream answered ${status}`, status);
    }
    throw new FinalFailure(
      'upstream_unavailable',
      `upstream answered ${status} for ${payload.path}`,
    );
  }

  private async download(
    job: Job<FetchJobPayload>,
    remote: ProxyRemoteConfig,
    response: UpstreamResponse,
  ): Promise<FetchJobResult> {
    const payload = job.data;
    const contentLength = parseLength(response.headers['content-length']);
    const contentType = contentTypeFor(payload.path, response.headers['content-type']);
    const attempt = await this.inflight.begin().catch((error: unknown) => {
      response.body.destroy();
      throw error;
    });
    try {
      await job.updateProgress({
        phase: 'streaming',
        streamUrl: attempt.streamUrl,
        contentLength,
        contentType,
        sha256: payload.expectedSha256 ?? null,
        upstreamHeaders: pick(response.headers, PASSED_HEADERS),
      });
      const verify = new HashingTransform({
        expectedSize: contentLength ?? undefined,
        expectedSha256: payload.expectedSha256,
      });
      const download = pipeline(response.body, verify, attempt.spool.createWriter()).then(
        () => attempt.spool.verified(),
        (error: Error) => {
          attempt.spool.fail(error);
          throw error;
        },
      );
      const publish = attempt.spool.openReader('verified').then((reader) =>
        this.storage.write(payload.storageKey, reader, {
          contentType,
          expectedSize: contentLength ?? undefined,
          expectedSha256: payload.expectedSha256,
        }),
      );
      const [downloaded, published] = await Promise.allSettled([download, publish]);
      if (downloaded.status === 'rejected') {
        throw downloaded.reason;
      }
      if (published.status === 'rejected') {
        // The bytes are verified: the clients following this attempt may have them, even though
        // storage failed and the job will be retried.
        attempt.spool.release();
        throw asStorageFailure(published.reason);
      }
      const artifact: StoredArtifact = {
        storageKey: payload.storageKey,
        size: published.value.size,
        sha256: published.value.sha256,
        contentType,
      };
      await this.recordPublished(remote, payload, artifact, response.headers).finally(() =>
        attempt.spool.release(),
      );
      return { outcome: 'stored', ...artifact };
    } finally {
      response.body.destroy();
      await this.inflight.end(attempt);
    }
  }

  /**
   * SPEC §4: a tag is revalidated with an upstream HEAD compared by digest (a HEAD does not count
   * against registries' pull limits). Null when a GET must decide: changed, or no digest given.
   */
  private async revalidateTag(
    remote: ProxyRemoteConfig,
    payload: FetchJobPayload,
    cached: ObjectInfo,
  ): Promise<FetchJobResult | null> {
    let response: UpstreamResponse;
    try {
      response = await this.upstream.request(remote, payload.upstreamPath, {
        method: 'HEAD',
        headers: payload.accept ? { accept: payload.accept } : {},
        scope: payload.scope,
      });
    } catch (error) {
      if (error instanceof UpstreamError && error.transient) {
        return this.keepStale(remote, payload, 'unreachable');
      }
      throw error;
    }
    await discard(response.body);
    const status = response.status;
    if (status === 200 && response.headers['docker-content-digest'] === `sha256:${cached.sha256}`) {
      await this.cacheState.markFresh(remote.name, payload.path, remote.mutableTtl);
      this.metrics.revalidated(remote.name, 'unchanged');
      return { outcome: 'unchanged', ...stored(cached) };
    }
    if (status === 429 || status >= 500 || status === 401 || status === 403) {
      return this.keepStale(remote, payload, 'unreachable');
    }
    return null;
  }

  /**
   * Docker manifests are small: read whole, checked against the digest asked for, and stored
   * under the digest as well as under the tag, so `image@sha256:…` is a hit after `image:tag`.
   */
  private async storeManifest(
    remote: ProxyRemoteConfig,
    payload: FetchJobPayload,
    response: UpstreamResponse,
  ): Promise<FetchJobResult> {
    const document = await readManifest(response.body, response.headers['content-type']);
    if (payload.expectedSha256 && document.sha256 !== payload.expectedSha256) {
      throw new FinalFailure(
        'upstream_integrity',
        `manifest digest mismatch: asked for sha256:${payload.expectedSha256}, got sha256:${document.sha256}`,
      );
    }
    const digestKey = `${payload.manifestDigestKeyPrefix}/sha256/${document.sha256}`;
    const options = { contentType: document.mediaType, expectedSha256: document.sha256 };
    try {
      for (const key of new Set([digestKey, payload.storageKey])) {
        await this.storage.write(key, Readable.from([document.bytes]), options);
      }
    } catch (error) {
      throw asStorageFailure(error);
    }
    const artifact: StoredArtifact = {
      storageKey: payload.storageKey,
      size: document.bytes.length,
      sha256: document.sha256,
      contentType: document.mediaType,
    };
    await this.recordPublished(remote, payload, artifact, response.headers);
    return { outcome: 'stored', ...artifact };
  }

  private async recordPublished(
    remote: ProxyRemoteConfig,
    payload: FetchJobPayload,
    artifact: StoredArtifact,
    headers: Record<string, string>,
  ): Promise<void> {
    const validators = {
      etag: headers.etag ?? null,
      lastModified: headers['last-modified'] ?? null,
    };
    if (payload.kind !== 'immutable') {
      await this.cacheState.markFresh(remote.name, payload.path, remote.mutableTtl);
      await this.cacheState.setValidators(remote.name, payload.path, validators);
    }
    await this.cacheState.forgetMissing(remote.name, payload.path);
    try {
      await this.records.recordFetched({
        remote: remote.name,
        path: payload.path,
        ...artifact,
        upstreamEtag: validators.etag,
        upstreamLastModified: validators.lastModified,
      });
    } catch (error) {
      // The artifact is published and served from storage; the row is bookkeeping.
      this.logger.warn(
        `could not record ${remote.name} ${payload.path}: ${(error as Error).message}`,
      );
    }
  }

  /** The upstream could not confirm an expired copy: keep serving it for another TTL. */
  private async keepStale(
    remote: ProxyRemoteConfig,
    payload: FetchJobPayload,
    reason: StaleReason,
  ): Promise<FetchJobResult> {
    const cached = await this.storage.head(payload.storageKey);
    if (!cached) {
      throw new UpstreamError('unreachable', 'upstream unreachable and nothing cached');
    }
    await this.cacheState.markFresh(remote.name, payload.path, remote.mutableTtl);
    this.metrics.revalidated(remote.name, reason === 'unreachable' ? 'unreachable' : 'missing');
    return { outcome: 'stale', reason, ...stored(cached) };
  }

  /** upstream_missing: not_found — the copy is gone upstream, so it goes here too. */
  private async forget(remote: ProxyRemoteConfig, payload: FetchJobPayload): Promise<void> {
    await this.storage.delete(payload.storageKey);
    await this.cacheState.markFresh(remote.name, payload.path, 0);
  }
}

function stored(info: {
  key: string;
  size: number;
  sha256: string;
  contentType: string | null;
}): StoredArtifact {
  return {
    storageKey: info.key,
    size: info.size,
    sha256: info.sha256,
    contentType: info.contentType,
  };
}

function parseLength(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value)) {
    return null;
  }
  return Number(value);
}

function pick(headers: Record<string, string>, names: string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    if (headers[name] !== undefined) {
      picked[name] = headers[name];
    }
  }
  return picked;
}

function asStorageFailure(error: unknown): Error {
  if (isArtifactError(error, 'upstream_integrity')) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ArtifactError('storage_unavailable', `storage write failed: ${message}`);
}

function classify(error: unknown): { reason: FetchFailureReason; message: string; final: boolean } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof FinalFailure) {
    return { reason: error.reason, message, final: true };
  }
  if (error instanceof UpstreamError) {
    return { reason: 'upstream_unavailable', message, final: !error.transient };
  }
  if (isArtifactError(error, 'upstream_integrity')) {
    // A digest that does not match will not match next time either; a short body may be a
    // dropped connection, worth another try.
    const digestMismatch = error.detail?.actualSha256 !== undefined;
    return { reason: 'upstream_integrity', message, final: digestMismatch };
  }
  if (isArtifactError(error, 'storage_unavailable')) {
    return { reason: 'storage_unavailable', message, final: false };
  }
  if (isArtifactError(error, 'service_unavailable')) {
    // Redis (CacheStateService) failed, typically mid-failover after the bytes were published:
    // the retry finds them in storage, and the waiting clients get a 503, not an upstream's 502.
    return { reason: 'redis_unavailable', message, final: false };
  }
  return { reason: 'upstream_unavailable', message, final: false };
}
