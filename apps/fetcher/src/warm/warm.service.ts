import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Job, Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheStateService } from '@app/cache';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig } from '@app/config';
import { fetchRequestOf, fetchTargetOf, manifestReferences, readManifest } from '@app/formats';
import {
  FETCH_JOB,
  FETCH_JOB_OPTIONS,
  FETCH_QUEUE,
  type FetchJobPayload,
  type FetchJobResult,
  type FetchKind,
  type FetchQueueName,
  type FetchRequest,
  METADATA_FETCH_QUEUE,
  WARM_FETCH_PRIORITY,
  type WarmFile,
  type WarmImage,
  type WarmItem,
  type WarmJobPayload,
  type WarmProgress,
  type WarmResult,
  fetchJobId,
  fetchQueueFor,
  parseFailure,
  queueCall,
} from '@app/jobs';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';

type FetchQueue = Queue<FetchJobPayload, FetchJobResult>;
type WarmJob = Job<WarmJobPayload, WarmResult>;

/** How often the fetches a warm-up added are looked at. */
const POLL_MS = 500;
/** Progress is published at most this often (and once at the end). */
const PROGRESS_EVERY_MS = 1000;
/** How often a fetch job that vanished (removed from the queue UI) is added again. */
const MAX_ROUNDS = 3;

/** One fetch the warm-up added and waits for. */
interface Pending {
  remote: string;
  path: string;
  request: FetchRequest;
  queue: FetchQueue;
  jobId: string;
  rounds: number;
}

/**
 * Runs a warm-up (docs/HTTP-API.md#warm-up): its files, then each image's manifest or index,
 * every platform's manifest, and all their blobs, each as an ordinary fetch job at
 * WARM_FETCH_PRIORITY, so that client misses go first and the remote's budget and concurrency
 * limits apply. A fetch a client already asked for is joined, not repeated. Every wait is bounded:
 * a fetch that has not finished after its job's own limits is reported as failed.
 */
@Injectable()
export class WarmService {
  private readonly logger = new Logger(WarmService.name);
  private readonly lanes: ReadonlyMap<FetchQueueName, FetchQueue>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly cacheState: CacheStateService,
    @InjectQueue(FETCH_QUEUE) content: FetchQueue,
    @InjectQueue(METADATA_FETCH_QUEUE) metadata: FetchQueue,
  ) {
    this.lanes = new Map([
      [FETCH_QUEUE, content],
      [METADATA_FETCH_QUEUE, metadata],
    ]);
  }

  async run(job: WarmJob): Promise<WarmResult> {
    const started = Date.now();
    const tally = new WarmTally(job);
    const { files, images } = job.data;
    this.logger.log(`warm-up ${job.id}: ${files.length} files, ${images.length} images`);
    await this.settleAll(files, tally);
    for (const image of images) {
      await this.warmImage(image, tally);
    }
    const result = await tally.finish();
    this.logger.log(
      `warm-up ${job.id} done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.fetched} fetched, ${result.cached} cached, ${result.failed} failed, ${result.bytes} bytes`,
    );
    return result;
  }

  private async warmImage(image: WarmImage, tally: WarmTally): Promise<void> {
    const top = { remote: image.remote, path: `${image.image}/manifests/${image.reference}` };
    const [manifest] = await this.settleAll([top], tally);
    if (manifest.outcome === 'failed') {
      return;
    }
    const first = await this.references(top);
    const children = first.manifests.map((digest) => ({
      remote: image.remote,
      path: `${image.image}/manifests/${digest}`,
    }));
    const blobs = new Set(first.blobs);
    for (const [i, child] of (await this.settleAll(children, tally)).entries()) {
      if (child.outcome !== 'failed') {
        (await this.references(children[i])).blobs.forEach((digest) => blobs.add(digest));
      }
    }
    await this.settleAll(
      [...blobs].map((digest) => ({
        remote: image.remote,
        path: `${image.image}/blobs/${digest}`,
      })),
      tally,
    );
  }

  /** What a stored manifest names; nothing when it cannot be read (it was just stored). */
  private async references(file: WarmFile): Promise<ReturnType<typeof manifestReferences>> {
    const remote = this.config.remotes[file.remote] as ProxyRemoteConfig;
    const read = await this.storage.read(fetchTargetOf(remote, file.path).storageKey);
    if (!read) {
      return { manifests: [], blobs: [] };
    }
    const document = await readManifest(read.body, read.info.contentType ?? undefined);
    try {
      return manifestReferences(JSON.parse(document.bytes.toString('utf8')));
    } catch {
      return { manifests: [], blobs: [] };
    }
  }

  /** Fetches what is not cached yet, all at once, and waits for every one; items in order. */
  private async settleAll(files: WarmFile[], tally: WarmTally): Promise<WarmItem[]> {
    tally.expect(files.length);
    const settled = new Array<WarmItem | undefined>(files.length);
    const pending = new Map<number, Pending>();
    for (const [i, file] of files.entries()) {
      const started = await this.start(file).catch((error: unknown) => failedItem(file, error));
      if ('outcome' in started) {
        settled[i] = tally.add(started);
      } else {
        pending.set(i, started);
      }
    }
    await tally.publish(true);
    const deadline =
      Date.now() +
      (this.config.fetchJobTimeout * (FETCH_JOB_OPTIONS.attempts ?? 1) +
        this.config.fetchWaitTimeout) *
        1000;
    while (pending.size > 0) {
      await sleep(POLL_MS);
      for (const [i, fetch] of pending) {
        const item =
          Date.now() > deadline
            ? failedItem(fetch, new Error('the fetch did not finish within its job limits'))
            : await this.look(fetch).catch((error: unknown) => failedItem(fetch, error));
        if (item) {
          settled[i] = tally.add(item);
          pending.delete(i);
        }
      }
      await tally.publish();
    }
    return settled as WarmItem[];
  }

  /** A cached item, or the fetch job added (or joined) for it. */
  private async start(file: WarmFile): Promise<WarmItem | Pending> {
    const remote = this.config.remotes[file.remote];
    if (!remote || remote.package === 'local') {
      throw new Error(`${file.remote} is not a proxy remote`);
    }
    const target = fetchTargetOf(remote, file.path);
    const stored = await this.storage.head(target.storageKey);
    if (stored) {
      const fresh =
        target.pathClass === 'immutable' || (await this.cacheState.isFresh(remote.name, file.path));
      if (fresh) {
        return { ...file, outcome: 'cached', size: stored.size };
      }
    }
    if (!stored && (await this.cacheState.isKnownMissing(remote.name, file.path))) {
      return {
        ...file,
        outcome: 'failed',
        error: 'upstream_not_found: the upstream answered 404 (remembered for negative_ttl)',
      };
    }
    const kind: FetchKind = stored ? 'revalidate' : target.pathClass;
    const request = fetchRequestOf(remote.name, file.path, kind, target, 'warm-up');
    const fetch: Pending = {
      remote: remote.name,
      path: file.path,
      request,
      queue: this.lanes.get(fetchQueueFor(request)) as FetchQueue,
      jobId: fetchJobId(remote.name, file.path),
      rounds: 0,
    };
    await this.enqueue(fetch);
    return fetch;
  }

  /** Adds the job at warm-up priority, or joins the one there; a failure left from earlier is replaced. */
  private async enqueue(fetch: Pending): Promise<void> {
    fetch.rounds += 1;
    const enqueueId = randomUUID();
    const payload: FetchJobPayload = { ...fetch.request, requestedAt: Date.now(), enqueueId };
    const options = { ...FETCH_JOB_OPTIONS, jobId: fetch.jobId, priority: WARM_FETCH_PRIORITY };
    await this.call(fetch.queue.add(FETCH_JOB, payload, options));
    const job = await this.call(fetch.queue.getJob(fetch.jobId));
    if (job && job.data.enqueueId !== enqueueId && (await this.call(job.getState())) === 'failed') {
      await this.call(job.remove());
      await this.call(fetch.queue.add(FETCH_JOB, payload, options));
    }
  }

  /** The item once its fetch is over, null while it runs. */
  private async look(fetch: Pending): Promise<WarmItem | null> {
    const job = await this.call(fetch.queue.getJob(fetch.jobId));
    if (job) {
      const state = await this.call(job.getState());
      if (state === 'failed') {
        const failure = parseFailure(job.failedReason);
        return failedItem(fetch, new Error(`${failure.reason}: ${failure.message}`));
      }
      if (state !== 'completed') {
        return null;
      }
    }
    // Done and removed (completed jobs are), or removed by an operator: storage tells which.
    const stored = await this.storage.head(fetch.request.storageKey);
    if (stored) {
      return { remote: fetch.remote, path: fetch.path, outcome: 'fetched', size: stored.size };
    }
    if (fetch.rounds >= MAX_ROUNDS) {
      return failedItem(fetch, new Error(`the fetch job vanished ${fetch.rounds} times`));
    }
    await this.enqueue(fetch);
    return null;
  }

  private call<T>(work: Promise<T>): Promise<T> {
    return queueCall(work, 'fetch');
  }
}

function failedItem(file: WarmFile, error: unknown): WarmItem {
  return {
    remote: file.remote,
    path: file.path,
    outcome: 'failed',
    error: error instanceof Error ? error.message : String(error),
  };
}

/** The warm-up's items and counts, published as the job's progress as they come. */
class WarmTally {
  private readonly items: WarmItem[] = [];
  private readonly progress: WarmProgress = {
    total: 0,
    fetched: 0,
    cached: 0,
    failed: 0,
    bytes: 0,
  };
  private publishedAt = 0;
  private changed = false;

  constructor(private readonly job: WarmJob) {}

  expect(count: number): void {
    this.progress.total += count;
    this.changed = true;
  }

  add(item: WarmItem): WarmItem {
    this.items.push(item);
    this.progress[item.outcome] += 1;
    this.progress.bytes += item.size ?? 0;
    this.changed = true;
    return item;
  }

  async publish(force = false): Promise<void> {
    if (!this.changed || (!force && Date.now() - this.publishedAt < PROGRESS_EVERY_MS)) {
      return;
    }
    this.changed = false;
    this.publishedAt = Date.now();
    await this.job.updateProgress({ ...this.progress }).catch(() => undefined);
  }

  async finish(): Promise<WarmResult> {
    await this.publish(true);
    return { ...this.progress, items: this.items };
  }
}
