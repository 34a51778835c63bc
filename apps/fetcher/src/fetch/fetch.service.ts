import { Inject, Injectable, Logger } from '@nestjs/common';
import { dirname } from 'node:path';
import { type Job, UnrecoverableError } from 'bullmq';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CacheStateService, ReplicationBarrier } from '@app/cache';
import {
  ArtifactError,
  type FieldedMessage,
  contentTypeFor,
  httpDate,
  isArtifactError,
} from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig } from '@app/config';
import { ArtifactRecordsService, DeferredWrites, type FetchedArtifactRecord } from '@app/db';
import {
  type DocumentFetch,
  FORMATS,
  type FetchTarget,
  fetchTargetOf,
  readDocument,
} from '@app/formats';
import {
  type FetchFailure,
  type FetchFailureReason,
  type FetchJobPayload,
  type FetchJobResult,
  type StaleReason,
  type StoredArtifact,
  formatFailure,
} from '@app/jobs';
import { MetricsService } from '@app/metrics';
import {
  SizeCheck,
  digestMismatch,
  type ObjectInfo,
  STORAGE_DRIVER,
  type StorageDriver,
  type WriteResult,
} from '@app/storage';
import {
  HttpTimeoutError,
  type UpstreamAnswer,
  UpstreamClient,
  UpstreamError,
  type UpstreamResponse,
  answerOfError,
  discard,
  parseRetryAfter,
} from '@app/upstream';
import { InflightRegistry } from '../inflight/inflight.registry';
import { upstreamVerdict } from './upstream-policy';

/** A failure whose retry is decided here rather than by the error's type. */
class FetchFailed extends Error {
  constructor(
    readonly failure: FetchFailure,
    readonly final: boolean,
  ) {
    super(failure.message);
  }
}

/** Upstream response headers worth passing to waiting gateways before the bytes. */
const PASSED_HEADERS = ['docker-content-digest', 'etag', 'last-modified'];

/** A related file a format's check reads whole (go's checksum database lookups: a few KB). */
const RELATED_MAX_BYTES = 1024 * 1024;

/** One job, as the service sees it: the payload plus what was derived from it. */
interface FetchContext {
  job: Job<FetchJobPayload, FetchJobResult>;
  payload: FetchJobPayload;
  remote: ProxyRemoteConfig;
  target: FetchTarget;
  /** aborts on the job's deadline or an operator's cancel */
  signal: AbortSignal;
}

/**
 * Runs one fetch job: upstream → spool file → storage, with every waiting client following the
 * spool through the in-flight endpoint. The fetch belongs to this job, not to any request: no
 * client leaving stops it, and it publishes once. Only the job's deadline (FETCH_JOB_TIMEOUT) or
 * an operator's cancel stop it early.
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
    private readonly deferred: DeferredWrites,
    private readonly metrics: MetricsService,
    private readonly inflight: InflightRegistry,
    private readonly replication: ReplicationBarrier,
  ) {}

  async run(
    job: Job<FetchJobPayload, FetchJobResult>,
    cancel?: AbortSignal,
  ): Promise<FetchJobResult> {
    const payload = job.data;
    const remote = this.config.remotes[payload.remote];
    const started = performance.now();
    const deadline = AbortSignal.timeout(this.config.fetchJobTimeout * 1000);
    const signal = cancel ? AbortSignal.any([cancel, deadline]) : deadline;
    const remoteName = remote?.name ?? '-';
    const tag = `${payload.remote} ${payload.path}${payload.requestId ? ` [${payload.requestId}]` : ''}`;
    const jobFields = {
      request_id: payload.requestId ?? null,
      remote: payload.remote,
      path: payload.path,
    };
    try {
      const context = this.contextOf(job, remote, signal);
      await this.replication.settle();
      const result = { ...(await this.execute(context)), enqueueId: payload.enqueueId };
      const seconds = (performance.now() - started) / 1000;
      const bytes = result.outcome === 'stored' ? result.size : 0;
      this.metrics.fetched(remoteName, result.outcome, seconds, bytes);
      this.logger.log({
        msg: `${tag} ${result.outcome} ${bytes} bytes in ${seconds.toFixed(3)} s`,
        ...jobFields,
        outcome: result.outcome,
        bytes,
        seconds: Number(seconds.toFixed(3)),
      } satisfies FieldedMessage);
      return result;
    } catch (error) {
      const seconds = (performance.now() - started) / 1000;
      const { failure, final } = classify(error, {
        cancel,
        deadline,
        jobTimeout: this.config.fetchJobTimeout,
      });
      const attempts = job.opts.attempts ?? 1;
      const last = final || job.attemptsMade + 1 >= attempts;
      this.metrics.fetched(remoteName, 'failed', seconds, 0);
      this.metrics.fetchFailed(remoteName, failure.reason);
      this.logger.warn({
        msg: `${tag} failed after ${seconds.toFixed(3)} s (attempt ${job.attemptsMade + 1}/${attempts}, ${last ? 'final' : 'will retry'}): ${failure.message}`,
        ...jobFields,
        outcome: 'failed',
        reason: failure.reason,
        attempt: job.attemptsMade + 1,
        final: last,
        seconds: Number(seconds.toFixed(3)),
      } satisfies FieldedMessage);
      const text = formatFailure(failure);
      if (final) {
        throw new UnrecoverableError(text);
      }
      if (!last) {
        await job.updateProgress({ phase: 'retrying', failure: text }).catch(() => undefined);
      }
      throw new Error(text);
    }
  }

  /**
   * What the job fetches, derived from remote + path alone: the payload's storage key and
   * upstream path are ignored, so a job forged in Redis or the queue UI can fetch no more than
   * a client request for that path could (and never overwrite another key, hosted files included).
   */
  private contextOf(
    job: Job<FetchJobPayload, FetchJobResult>,
    remote: AppConfig['remotes'][string] | undefined,
    signal: AbortSignal,
  ): FetchContext {
    const payload = job.data;
    if (!remote || remote.package === 'local') {
      throw new FetchFailed(
        {
          reason: 'upstream_unavailable',
          message: `remote ${payload.remote} is not a proxy remote on this fetcher`,
        },
        true,
      );
    }
    if (typeof payload.path !== 'string' || payload.path === '') {
      throw new FetchFailed({ reason: 'upstream_unavailable', message: 'job has no path' }, true);
    }
    let target: FetchTarget;
    try {
      target = fetchTargetOf(remote, payload.path);
    } catch (error) {
      throw new FetchFailed(
        {
          reason: 'upstream_unavailable',
          message: `job refused: ${error instanceof Error ? error.message : String(error)}`,
        },
        true,
      );
    }
    return { job, payload, remote, target, signal };
  }

  private async execute(context: FetchContext): Promise<FetchJobResult> {
    const { payload, remote, target } = context;
    const cached = await this.storage.head(target.storageKey);
    if (cached && payload.kind !== 'revalidate') {
      // Another job published it while this one waited (or a gateway raced a publish): done.
      const reusable =
        target.pathClass === 'immutable' ||
        (await this.cacheState.isFresh(remote.name, payload.path));
      if (reusable) {
        return { outcome: 'stored', ...stored(cached) };
      }
    }
    const revalidating = payload.kind === 'revalidate' && cached !== null;
    const document = target.document;
    if (revalidating && cached && target.digestHeader !== undefined) {
      const kept = await this.revalidateTag(context, cached);
      if (kept) {
        return kept;
      }
    }
    const headers: Record<string, string> = {};
    if (target.accept) {
      headers.accept = target.accept;
    }
    if (revalidating && remote.checkMutableUpdates && document === undefined) {
      const validators = await this.cacheState.getValidators(remote.name, payload.path);
      if (validators.etag) {
        headers['if-none-match'] = validators.etag;
      }
      if (validators.lastModified) {
        headers['if-modified-since'] = validators.lastModified;
      }
    }

    const { response, answer } = await this.ask(context, 'GET', headers);
    const verdict = upstreamVerdict(answer, {
      revalidating,
      upstreamMissing: remote.upstreamMissing,
    });
    if (verdict.action === 'store' && response) {
      if (revalidating) {
        this.metrics.revalidated(remote.name, 'changed');
      }
      if (document === undefined) {
        return this.download(context, response);
      }
      return { outcome: 'stored', ...(await this.storeDocument(context, response)) };
    }
    if (response) {
      await discard(response.body);
    }
    const status = response ? `answered ${response.status}` : 'gave no answer';
    switch (verdict.action) {
      case 'store':
        throw new Error('unreachable: a stored verdict without a response');
      case 'unchanged':
        await this.cacheState.markFresh(remote.name, payload.path, remote.mutableTtl);
        this.metrics.revalidated(remote.name, 'unchanged');
        return { outcome: 'unchanged', ...stored(cached as ObjectInfo) };
      case 'keep_stale':
        return this.keepStale(context, verdict.reason);
      case 'not_found':
        if (verdict.forget) {
          this.metrics.revalidated(remote.name, 'missing');
          await this.forget(context);
        }
        await this.cacheState.rememberMissing(remote.name, payload.path, remote.negativeTtl);
        throw new FetchFailed(
          { reason: 'upstream_not_found', message: `upstream ${status} for ${payload.path}` },
          true,
        );
      case 'retry':
        throw new FetchFailed(
          { reason: verdict.reason, message: answerMessage(answer, payload.path) },
          false,
        );
      case 'rate_limited':
        // Not retried by the queue: another attempt spends more of the upstream's budget.
        throw new FetchFailed(
          {
            reason: 'upstream_rate_limited',
            message: answerMessage(answer, payload.path),
            retryAfter: verdict.retryAfter,
          },
          true,
        );
      case 'refuse':
        throw new FetchFailed(
          { reason: 'upstream_unavailable', message: answerMessage(answer, payload.path) },
          true,
        );
    }
  }

  /** One upstream request; a request that got no answer becomes an answer of its own. */
  private async ask(
    context: FetchContext,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    query?: string,
  ): Promise<{ response: UpstreamResponse | null; answer: UpstreamAnswer }> {
    try {
      const response = await this.upstream.request(context.remote, context.target.upstreamPath, {
        method,
        headers,
        scope: context.target.scope,
        baseUrl: context.target.upstreamBaseUrl,
        query,
        signal: context.signal,
      });
      return {
        response,
        answer: {
          status: response.status,
          retryAfter: parseRetryAfter(response.headers['retry-after']),
        },
      };
    } catch (error) {
      if (!(error instanceof UpstreamError) || context.signal.aborted) {
        throw error;
      }
      return { response: null, answer: answerOfError(error) };
    }
  }

  private async download(
    context: FetchContext,
    response: UpstreamResponse,
  ): Promise<FetchJobResult> {
    const { job, payload, target, signal } = context;
    const contentLength = parseLength(response.headers['content-length']);
    const contentType = contentTypeFor(payload.path, response.headers['content-type']);
    const lastModified = httpDate(response.headers['last-modified']);
    const attempt = await this.inflight.begin().catch((error: unknown) => {
      response.body.destroy();
      throw error;
    });
    try {
      await job.updateProgress({
        phase: 'streaming',
        streamUrl: attempt.streamUrl,
        spool: await attempt.spool.identity(),
        contentLength,
        contentType,
        sha256: target.expectedSha256 ?? null,
        upstreamHeaders: pick(response.headers, PASSED_HEADERS),
      });
      const received = new SizeCheck({ expectedSize: contentLength ?? undefined });
      const adopt = await this.storage.canAdopt(dirname(attempt.spool.path));
      // The spool file is hashed on a worker thread as it grows (SpoolHashers): this thread only
      // receives and writes.
      const download = pipeline(
        response.body,
        received,
        attempt.spool.createWriter({ syncBehind: adopt }),
        { signal },
      )
        .then(() => attempt.spool.sha256())
        .then(async (sha256) => {
          const expected = target.expectedSha256?.toLowerCase();
          if (expected !== undefined && sha256 !== expected) {
            throw digestMismatch(expected, sha256);
          }
          const other = target.expectedDigest;
          if (other !== undefined) {
            const actual = await attempt.spool.digest(other.algorithm);
            if (actual !== other.hex) {
              throw new ArtifactError(
                'upstream_integrity',
                `${other.algorithm} mismatch: expected ${other.hex}, got ${actual}`,
                { expectedDigest: other.hex, actualDigest: actual },
              );
            }
          }
          await FORMATS[context.remote.package].verifyDownload?.({
            remote: context.remote,
            target,
            path: payload.path,
            file: attempt.spool.path,
            signal,
            related: (path) => this.related(context, path),
          });
          return sha256;
        })
        .then(
          (sha256) => {
            attempt.spool.verified();
            return sha256;
          },
          (error: Error) => {
            attempt.spool.fail(error);
            throw error;
          },
        );
      // The verified spool file becomes the stored file (no second copy, no second hash) when
      // storage can take it; otherwise storage follows the spool while it grows.
      const writeFromSpool = (): Promise<WriteResult> =>
        attempt.spool.openReader('verified').then((reader) =>
          this.storage.write(target.storageKey, reader, {
            contentType,
            expectedSize: contentLength ?? undefined,
            expectedSha256: target.expectedSha256,
            lastModified,
            signal,
          }),
        );
      const publish = adopt
        ? download.then(
            async () =>
              (await this.storage.adoptFile(target.storageKey, attempt.spool.path, {
                size: received.byteCount,
                sha256: await download,
                contentType,
                lastModified,
              })) ?? (await writeFromSpool()),
          )
        : writeFromSpool();
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
        storageKey: target.storageKey,
        size: published.value.size,
        sha256: published.value.sha256,
        contentType,
      };
      await this.recordPublished(context, artifact, response.headers);
      attempt.spool.release();
      return { outcome: 'stored', ...artifact };
    } finally {
      response.body.destroy();
      await this.inflight.end(attempt);
    }
  }

  /**
   * A tag is revalidated with an upstream HEAD compared by digest (a HEAD does not count against
   * registries' pull limits), unless a check of it within tag_check_window, on any replica,
   * already found the digest we hold. Null when a GET must decide: changed, or no digest given.
   */
  private async revalidateTag(
    context: FetchContext,
    cached: ObjectInfo,
  ): Promise<FetchJobResult | null> {
    const { remote, payload, target } = context;
    const held = `sha256:${cached.sha256}`;
    const unchanged = async (): Promise<FetchJobResult> => {
      await this.cacheState.markFresh(remote.name, payload.path, remote.mutableTtl);
      this.metrics.revalidated(remote.name, 'unchanged');
      return { outcome: 'unchanged', ...stored(cached) };
    };
    if (
      remote.tagCheckWindow > 0 &&
      (await this.cacheState.lastTagCheck(remote.name, payload.path)) === held
    ) {
      this.metrics.upstreamRequestSaved(remote.name, 'tag_check');
      return unchanged();
    }
    const { response, answer } = await this.ask(
      context,
      'HEAD',
      target.accept ? { accept: target.accept } : {},
    );
    if (response) {
      await discard(response.body);
    }
    const found =
      response?.status === 200 && target.digestHeader !== undefined
        ? response.headers[target.digestHeader]
        : undefined;
    if (found) {
      await this.rememberTagCheck(context, found);
    }
    if (found === held) {
      return unchanged();
    }
    const verdict = upstreamVerdict(answer, {
      revalidating: true,
      upstreamMissing: remote.upstreamMissing,
    });
    if (verdict.action === 'keep_stale' && verdict.reason !== 'upstream_missing') {
      return this.keepStale(context, verdict.reason);
    }
    return null;
  }

  /** A document the remote's format stores (PackageFormat.storeDocument), given this job. */
  private storeDocument(
    context: FetchContext,
    response: UpstreamResponse,
  ): Promise<StoredArtifact> {
    const { remote, target, payload } = context;
    const store = FORMATS[remote.package].storeDocument;
    if (store === undefined) {
      throw new Error(`unreachable: package ${remote.package} has documents but no storeDocument`);
    }
    const fetch: DocumentFetch = {
      remote,
      target,
      path: payload.path,
      write: (key, bytes, contentType, sha256) =>
        this.writeDocument(context, key, bytes, contentType, sha256),
      published: (artifact, headers, refersTo) =>
        this.recordPublished(context, artifact, headers, refersTo),
      recordAlso: (path, artifact, refersTo) =>
        this.submitRecord({
          remote: remote.name,
          path,
          ...artifact,
          upstreamEtag: null,
          upstreamLastModified: null,
          refersTo,
        }),
      page: async (query) => {
        const { response: page, answer } = await this.ask(context, 'GET', {}, query);
        return { response: page, message: answerMessage(answer, payload.path) };
      },
      rememberCheck: (digest) => this.rememberTagCheck(context, digest),
      failure: (reason, message, final) => new FetchFailed({ reason, message }, final),
      warn: (message) => this.logger.warn(message),
    };
    return store(fetch, response);
  }

  /**
   * DownloadCheck.related: a small immutable file of the job's remote, from storage, or else
   * fetched, stored and recorded like any fetched file. Null when the upstream has none.
   */
  private async related(context: FetchContext, path: string): Promise<Buffer | null> {
    const target = fetchTargetOf(context.remote, path);
    if (target.pathClass !== 'immutable' || target.document !== undefined) {
      throw new Error(`unreachable: ${path} is not a plain immutable file`);
    }
    const stored = await this.storage.read(target.storageKey, { signal: context.signal });
    if (stored) {
      return readDocument(stored.body, RELATED_MAX_BYTES, path);
    }
    const { response, answer } = await this.ask({ ...context, target }, 'GET', {});
    if (response?.status === 200) {
      const bytes = await readDocument(response.body, RELATED_MAX_BYTES, path);
      const contentType = contentTypeFor(path, response.headers['content-type']);
      const written = await this.writeDocument(
        context,
        target.storageKey,
        bytes,
        contentType,
        undefined,
      );
      this.submitRecord({
        remote: context.remote.name,
        path,
        storageKey: target.storageKey,
        size: written.size,
        sha256: written.sha256,
        contentType,
        upstreamEtag: response.headers.etag ?? null,
        upstreamLastModified: response.headers['last-modified'] ?? null,
        refersTo: null,
      });
      return bytes;
    }
    if (response) {
      await discard(response.body);
    }
    if (response?.status === 404 || response?.status === 410) {
      return null;
    }
    throw new FetchFailed(
      {
        reason: 'upstream_unavailable',
        message: `${context.payload.path} not checked: ${answerMessage(answer, path)}`,
      },
      false,
    );
  }

  private async writeDocument(
    context: FetchContext,
    key: string,
    bytes: Buffer,
    contentType: string,
    sha256: string | undefined,
  ) {
    try {
      return await this.storage.write(key, Readable.from([bytes]), {
        contentType,
        expectedSha256: sha256,
        signal: context.signal,
      });
    } catch (error) {
      throw asStorageFailure(error);
    }
  }

  /**
   * Called once the bytes are in storage, before the waiting clients get their last byte: the
   * Redis state a client's next request relies on (the TTL marker, the validators, no negative
   * entry) is written here, each call bounded by Redis' command timeout. The Postgres row is
   * bookkeeping: it is written on the side and retried until Postgres takes it, so a partitioned
   * or stopped Postgres delays nobody.
   */
  private async recordPublished(
    context: FetchContext,
    artifact: StoredArtifact,
    headers: Record<string, string>,
    refersTo: string[] | null = null,
  ): Promise<void> {
    const { remote, payload } = context;
    const validators = {
      etag: headers.etag ?? null,
      lastModified: headers['last-modified'] ?? null,
    };
    try {
      if (payload.kind !== 'immutable') {
        await this.cacheState.markFresh(remote.name, payload.path, remote.mutableTtl);
        await this.cacheState.setValidators(remote.name, payload.path, validators);
      }
      await this.cacheState.forgetMissing(remote.name, payload.path);
    } catch (error) {
      // Published all the same: the next request revalidates (or finds it in storage).
      this.logger.warn(
        `${remote.name} ${payload.path}: Redis state not written: ${(error as Error).message}`,
      );
    }
    this.submitRecord({
      remote: remote.name,
      path: payload.path,
      ...artifact,
      upstreamEtag: validators.etag,
      upstreamLastModified: validators.lastModified,
      refersTo,
    });
  }

  private submitRecord(record: FetchedArtifactRecord): void {
    this.deferred.submit(`cached_artifacts\0${record.remote}\0${record.path}`, () =>
      this.records.recordFetched(record),
    );
  }

  /** What the upstream just said a tag points at, for the revalidations of the next seconds. */
  private async rememberTagCheck(context: FetchContext, digest: string): Promise<void> {
    const { remote, payload } = context;
    await this.cacheState.rememberTagCheck(
      remote.name,
      payload.path,
      digest,
      remote.tagCheckWindow,
    );
  }

  /** The upstream could not confirm an expired copy: keep serving it for another TTL. */
  private async keepStale(context: FetchContext, reason: StaleReason): Promise<FetchJobResult> {
    const { remote, payload, target } = context;
    const cached = await this.storage.head(target.storageKey);
    if (!cached) {
      throw new FetchFailed(
        { reason: 'upstream_unavailable', message: 'upstream unreachable and nothing cached' },
        false,
      );
    }
    await this.cacheState.markUnconfirmed(remote.name, payload.path, remote.mutableTtl, reason);
    this.metrics.revalidated(remote.name, reason === 'upstream_missing' ? 'missing' : reason);
    return { outcome: 'stale', reason, ...stored(cached) };
  }

  /** upstream_missing: not_found — the copy is gone upstream, so it goes here too. */
  private async forget(context: FetchContext): Promise<void> {
    await this.storage.delete(context.target.storageKey);
    await this.cacheState.markFresh(context.remote.name, context.payload.path, 0);
  }
}

function stored(info: ObjectInfo): StoredArtifact {
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

function answerMessage(answer: UpstreamAnswer, path: string): string {
  if ('failure' in answer) {
    return answer.message ?? `upstream ${answer.failure} for ${path}`;
  }
  return `upstream answered ${answer.status} for ${path}`;
}

function asStorageFailure(error: unknown): Error {
  if (isArtifactError(error, 'upstream_integrity') || error instanceof FetchFailed) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ArtifactError('storage_unavailable', `storage write failed: ${message}`);
}

interface JobSignals {
  cancel: AbortSignal | undefined;
  deadline: AbortSignal;
  jobTimeout: number;
}

function classify(error: unknown, signals: JobSignals): { failure: FetchFailure; final: boolean } {
  const message = error instanceof Error ? error.message : String(error);
  const failed = (reason: FetchFailureReason, final: boolean, text = message) => ({
    failure: { reason, message: text },
    final,
  });
  if (error instanceof FetchFailed) {
    return { failure: error.failure, final: error.final };
  }
  if (signals.cancel?.aborted) {
    return failed('cancelled', true, 'cancelled by an operator');
  }
  if (signals.deadline.aborted) {
    // A fetch this slow will not be faster the next time.
    return failed(
      'upstream_timeout',
      true,
      `the fetch took longer than FETCH_JOB_TIMEOUT (${signals.jobTimeout} s)`,
    );
  }
  if (error instanceof UpstreamError) {
    return failed(
      error.failure === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable',
      !error.transient,
    );
  }
  if (error instanceof HttpTimeoutError) {
    return failed('upstream_timeout', false);
  }
  if (isArtifactError(error, 'upstream_integrity')) {
    // A digest that does not match will not match next time either; a short body may be a
    // dropped connection, worth another try.
    const digestMismatch =
      error.detail?.actualSha256 !== undefined || error.detail?.actualDigest !== undefined;
    return failed('upstream_integrity', digestMismatch);
  }
  if (isArtifactError(error, 'storage_unavailable')) {
    return failed('storage_unavailable', false);
  }
  if (isArtifactError(error, 'service_unavailable')) {
    // Redis (CacheStateService) failed, typically mid-failover: the waiting clients get a 503,
    // not an upstream's 502, and a retry finds published bytes in storage.
    return failed('redis_unavailable', false);
  }
  return failed('upstream_unavailable', false);
}
