import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS, RedisLease, STORAGE_DROPPED_CHANNEL } from '@app/cache';
import { isArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig } from '@app/config';
import {
  ArtifactRecordsService,
  ContentRecordsService,
  type RecordTable,
  type RemoteUsage,
  type UnreferencedContent,
  type UsedRecord,
} from '@app/db';
import { FORMATS, MANIFEST_MAX_BYTES, readManifest, referencedDigests } from '@app/formats';
import { MetricsService } from '@app/metrics';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { type EvictionReason, bytesToFree, isUnused, leastRecentlyUsed } from './eviction-plan';

const LEASE_KEY = 'ac:lease:eviction';
/** A holder renews the lease every page; one that crashed holds it this long at most. */
const LEASE_TTL_MS = 60_000;
const LAST_PASS_KEY = 'ac:eviction:last-pass';
/** Records read per query. */
const PAGE = 1000;
/** Storage deletes in flight at once. */
const STORAGE_CONCURRENCY = 16;
/** Removed files listed in a pass's report (the counts cover them all). */
const MAX_LISTED = 1000;
/**
 * An object stored this long after its record's fetch was published by a newer fetch than the
 * record describes (the file was fetched again while the pass ran): it stays. The margin covers
 * clock skew between fetchers, Postgres and the S3 server.
 */
const REFETCH_MARGIN_MS = 60_000;
/** Objects of older releases a pass makes share their content (the rest wait for the next). */
const SHARE_PER_PASS = 2000;
/** Unreferenced contents looked at per query. */
const CONTENT_PAGE = 500;
/** Reading one stored manifest whose references a pass records. */
const MANIFEST_READ_TIMEOUT_MS = 10_000;

export interface EvictedFile {
  remote: string;
  path: string;
  size: number;
  reason: EvictionReason;
}

export interface PassReport {
  /** when the pass started */
  at: string;
  dryRun: boolean;
  seconds: number;
  /** what was removed (or, in a dry run, would be), at most MAX_LISTED of them */
  removed: EvictedFile[];
  /** files (records) removed */
  objects: number;
  /** bytes freed: a stored object that other records still use frees nothing */
  bytes: number;
  byRemote: Record<string, { objects: number; bytes: number }>;
  /** objects stored by older releases that now share their content */
  shared: number;
  /** stored contents removed because no file had named them for storage.gc_grace */
  collected: { contents: number; bytes: number };
}

/**
 * Eviction passes (docs/STORAGE.md): files not hit for their remote's `evict_unused_after`, then
 * the least recently used of every remote over its `max_size`, then of all of them over
 * `storage.max_size`, each cap down to its low-water mark. Driven from the Postgres records,
 * never from a listing of storage; one replica at a time, under a Redis lease. Hosted files
 * have no records here and are never evicted. In a docker remote a manifest's use is its blobs'
 * use, nothing a cached manifest names is removed before it, and an object that records of
 * several images share stays while one of them does.
 */
@Injectable()
export class EvictionService {
  private readonly logger = new Logger(EvictionService.name);
  private readonly lease: RedisLease;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly records: ArtifactRecordsService,
    private readonly contents: ContentRecordsService,
    private readonly metrics: MetricsService,
  ) {
    this.lease = new RedisLease(redis, LEASE_KEY, LEASE_TTL_MS);
  }

  /**
   * One pass; null when another replica is running one. A dry run removes nothing and takes no
   * lease: it lists what a pass would remove now.
   */
  async pass(options: { dryRun?: boolean } = {}): Promise<PassReport | null> {
    const dryRun = options.dryRun ?? false;
    if (!dryRun && !(await this.lease.acquire())) {
      return null;
    }
    try {
      const { config, records, contents, storage, redis, metrics, lease } = this;
      const deps = { config, records, contents, storage, redis, metrics, lease };
      const report = await new Pass(deps, this.evictable(), dryRun).run();
      if (!dryRun) {
        await this.redis
          .set(LAST_PASS_KEY, JSON.stringify({ ...report, removed: [] }))
          .catch(() => undefined);
        if (report.objects > 0 || report.collected.contents > 0 || report.shared > 0) {
          this.logger.log(
            `evicted ${report.objects} files (${report.bytes} bytes), collected ` +
              `${report.collected.contents} unreferenced contents (${report.collected.bytes} ` +
              `bytes), shared ${report.shared} older objects in ${report.seconds.toFixed(2)} s`,
          );
        }
      }
      return report;
    } finally {
      if (!dryRun) {
        await this.lease.release();
      }
    }
  }

  /** The last pass any replica finished, without its list of files; null before the first. */
  async lastPass(): Promise<PassReport | null> {
    const text = await this.redis.get(LAST_PASS_KEY).catch(() => null);
    return text ? (JSON.parse(text) as PassReport) : null;
  }

  /** Proxy remotes whose files a pass may remove. */
  evictable(): ProxyRemoteConfig[] {
    return Object.values(this.config.remotes).filter(
      (remote): remote is ProxyRemoteConfig => remote.package !== 'local',
    );
  }
}

interface PassDeps {
  config: AppConfig;
  records: ArtifactRecordsService;
  contents: ContentRecordsService;
  storage: StorageDriver;
  redis: Redis;
  metrics: MetricsService;
  lease: RedisLease;
}

/** One pass's state: what it removed so far, so that caps count it and a dry run skips it. */
class Pass {
  private readonly began = Date.now();
  private readonly now = new Date();
  private readonly removed = new Set<string>();
  private readonly report: PassReport;
  /** remotes whose records name others (docker manifests and blobs: PackageFormat.referencing) */
  private readonly docker: ReadonlySet<string>;

  constructor(
    private readonly deps: PassDeps,
    private readonly remotes: readonly ProxyRemoteConfig[],
    private readonly dryRun: boolean,
  ) {
    this.docker = new Set(
      remotes.filter((r) => FORMATS[r.package].referencing === true).map((r) => r.name),
    );
    this.report = {
      at: this.now.toISOString(),
      dryRun,
      seconds: 0,
      removed: [],
      objects: 0,
      bytes: 0,
      byRemote: {},
      shared: 0,
      collected: { contents: 0, bytes: 0 },
    };
  }

  async run(): Promise<PassReport> {
    const { config, records, metrics } = this.deps;
    const { remotes } = this;
    await this.recordReferences();
    for (const remote of remotes) {
      if (remote.evictUnusedAfter !== null) {
        const before = new Date(this.now.getTime() - remote.evictUnusedAfter * 1000);
        await this.walk([remote.name], before, async (page) => {
          await this.evict(
            page.filter((record) => isUnused(record, remote.evictUnusedAfter, this.now)),
            'unused',
          );
          return true;
        });
      }
    }
    const usage = await records.usage();
    for (const remote of remotes) {
      await this.shrink([remote.name], this.usedBytes(usage, [remote.name]), remote.maxSize);
    }
    const all = remotes.map((remote) => remote.name);
    const cap = config.eviction.maxSize;
    // The cap is on what storage holds: files of remotes no longer configured count too.
    await this.shrink(
      all,
      this.usedBytes(
        usage,
        usage.map((u) => u.remote),
      ),
      cap,
    );
    if (!this.dryRun) {
      await this.shareOlderObjects();
      await this.collectUnreferenced();
      const after = await records.usage();
      for (const held of after) {
        metrics.storageUsage(held.remote, held.objects, held.bytes);
      }
      metrics.dedupSaved(
        (await records.sharedBlobBytes([...this.docker])) +
          (await this.deps.contents.sharedContentBytes()),
      );
      const total = after.reduce((sum, held) => sum + held.bytes, 0);
      if (cap !== null && total > cap) {
        new Logger(EvictionService.name).warn(
          `storage holds ${total} bytes, over storage.max_size (${cap}), after evicting what it may`,
        );
      }
    }
    this.report.seconds = (Date.now() - this.began) / 1000;
    return this.report;
  }

  /**
   * Objects stored by older releases hold bytes of their own: a bounded batch per pass is made to
   * share its content, in place (the key stays readable throughout; nothing is fetched again).
   * Storage failing ends this for the pass; what was done is recorded.
   */
  private async shareOlderObjects(): Promise<void> {
    const { contents, storage } = this.deps;
    const done: Record<RecordTable, string[]> = { cached_artifacts: [], hosted_files: [] };
    try {
      await inBatches(
        await contents.unshared(SHARE_PER_PASS),
        STORAGE_CONCURRENCY,
        async (record) => {
          if (await storage.shareStored(record.storageKey)) {
            this.report.shared += 1;
          }
          done[record.table].push(record.id);
        },
      );
    } catch (error) {
      new Logger(EvictionService.name).warn(
        `sharing the contents of older objects stopped for this pass: ${(error as Error).message}`,
      );
    } finally {
      await contents.markShared('cached_artifacts', done.cached_artifacts);
      await contents.markShared('hosted_files', done.hosted_files);
    }
  }

  /**
   * The second phase of collection (the first is the trigger noting a digest its last record
   * stopped naming): a content unreferenced for storage.gc_grace, that no record names again, is
   * removed, unless storage finds it still used (fs: a key links it; s3: stored again since its
   * first look, which only reads its version). Those are noted again and looked at after another
   * grace period.
   */
  private async collectUnreferenced(): Promise<void> {
    const { config, contents, storage, metrics } = this.deps;
    const before = new Date(Date.now() - config.eviction.gcGraceSeconds * 1000);
    for (;;) {
      const page = await contents.unreferenced(before, CONTENT_PAGE);
      const named = await contents.named(page.map((content) => content.sha256));
      const done = page.filter((content) => named.has(content.sha256));
      const again: UnreferencedContent[] = [];
      try {
        await inBatches(
          page.filter((content) => !named.has(content.sha256)),
          STORAGE_CONCURRENCY,
          async (content) => {
            const result = await storage.collectContent(content.sha256, content.seen);
            if (result.outcome === 'seen' || result.outcome === 'kept') {
              again.push({ ...content, seen: result.outcome === 'seen' ? result.version : null });
              return;
            }
            done.push(content);
            if (result.outcome === 'collected') {
              this.report.collected.contents += 1;
              this.report.collected.bytes += result.size;
              metrics.collected(result.size);
            }
          },
        );
      } catch (error) {
        new Logger(EvictionService.name).warn(
          `collecting unreferenced contents stopped for this pass: ${(error as Error).message}`,
        );
        return;
      } finally {
        await contents.forget(done);
        await contents.noteAgain(again);
      }
      if (page.length < CONTENT_PAGE) {
        return;
      }
      await this.renewLease();
    }
  }

  /** Bytes the remotes hold, less what this pass removed from them. */
  private usedBytes(usage: readonly RemoteUsage[], remotes: readonly string[]): number {
    const held = usage
      .filter((u) => remotes.includes(u.remote))
      .reduce((sum, u) => sum + u.bytes, 0);
    const removed = remotes.reduce(
      (sum, remote) => sum + (this.report.byRemote[remote]?.bytes ?? 0),
      0,
    );
    return held - removed;
  }

  /**
   * Docker manifests cached before their references were recorded (by an older release) get
   * them now, read from the stored copy; one whose copy is gone refers to nothing. Storage
   * failing ends this for the pass, leaving the rest for the next (an empty list recorded then
   * would leave a cached image's blobs unprotected for good).
   */
  private async recordReferences(): Promise<void> {
    const { records } = this.deps;
    const docker = [...this.docker];
    for (;;) {
      const page = await records.manifestsWithoutReferences(docker, PAGE);
      for (const manifest of page) {
        const references = await this.storedReferences(manifest.storageKey);
        if (references === null) {
          new Logger(EvictionService.name).warn(
            `${manifest.storageKey}: storage did not answer; references left for the next pass`,
          );
          return;
        }
        await records.setReferences(manifest.id, references);
      }
      if (page.length < PAGE) {
        return;
      }
      await this.renewLease();
    }
  }

  /** The digests a stored manifest names; null when storage could not be read. */
  private async storedReferences(key: string): Promise<string[] | null> {
    const signal = AbortSignal.timeout(MANIFEST_READ_TIMEOUT_MS);
    let found;
    try {
      found = await this.deps.storage.read(key, { signal });
    } catch {
      return null;
    }
    if (!found) {
      return [];
    }
    if (found.info.size > MANIFEST_MAX_BYTES) {
      found.body.destroy();
      return [];
    }
    try {
      return referencedDigests((await readManifest(found.body, undefined)).bytes);
    } catch (error) {
      found.body.destroy();
      // Over the cap: not a manifest the cache could have served, so it names nothing.
      return isArtifactError(error, 'upstream_integrity') ? [] : null;
    }
  }

  /** Removes the least recently used of `remotes` until they are under the cap's low-water mark. */
  private async shrink(remotes: string[], usedBytes: number, cap: number | null): Promise<void> {
    let toFree = bytesToFree(usedBytes, cap);
    if (toFree === 0 || remotes.length === 0) {
      return;
    }
    await this.walk(remotes, null, async (page) => {
      // What a page's first picks could not free (kept for a reference, or shared) is sought
      // further down the same page.
      let left = page;
      while (toFree > 0 && left.length > 0) {
        const picked = leastRecentlyUsed(left, toFree);
        toFree -= await this.evict(picked, 'size');
        left = left.slice(picked.length);
      }
      return toFree > 0;
    });
  }

  /** Pages of records, least recently used first, until `each` says stop or none are left. */
  private async walk(
    remotes: string[],
    usedBefore: Date | null,
    each: (page: UsedRecord[]) => Promise<boolean>,
  ): Promise<void> {
    const { records } = this.deps;
    let after: UsedRecord | null = null;
    for (;;) {
      const page: UsedRecord[] = (
        await records.leastRecentlyUsed(remotes, PAGE, after, usedBefore)
      ).filter((record) => !this.removed.has(record.id));
      if (page.length === 0 || !(await each(page)) || page.length < PAGE) {
        return;
      }
      after = page[page.length - 1];
      await this.renewLease();
    }
  }

  private async renewLease(): Promise<void> {
    if (!this.dryRun && !(await this.deps.lease.renew())) {
      throw new Error(
        'the eviction lease was lost (Redis failed or the pass outlived it); stopping this pass',
      );
    }
  }

  /**
   * Deletes the record's object unless a fetch published it anew since the record was read (its
   * own record, written next, keeps it; otherwise the copy just fetched would be lost to a
   * record that describes an older one).
   */
  private async deleteObjectUnlessRefetched(record: UsedRecord): Promise<void> {
    const { storage } = this.deps;
    const info = await storage.head(record.storageKey);
    if (info && info.storedAt.getTime() <= record.fetchedDate.getTime() + REFETCH_MARGIN_MS) {
      await storage.delete(record.storageKey);
    }
  }

  /** Of a page of docker records, those a cached manifest outside the pass's picks names. */
  private async stillReferenced(picked: readonly UsedRecord[]): Promise<Set<string>> {
    const candidates = picked.filter((record) => this.docker.has(record.remote));
    if (candidates.length === 0) {
      return new Set();
    }
    // A dry run deletes no records: what it already picked counts as gone.
    const gone = [...candidates.map((record) => record.id), ...(this.dryRun ? this.removed : [])];
    return this.deps.records.referencedFromOutside(candidates, gone);
  }

  /**
   * Objects first, then their records: a record without its object is picked again by the next
   * pass, while an object without its record would be served and never evicted. A file fetched
   * again since its record was read keeps its new record. A docker file a manifest outside the
   * picks names stays; an object another record uses stays with it. Returns the bytes freed.
   */
  private async evict(page: UsedRecord[], reason: EvictionReason): Promise<number> {
    const unpicked = page.filter((record) => !this.removed.has(record.id));
    const referenced = await this.stillReferenced(unpicked);
    const picked = unpicked.filter((record) => !referenced.has(record.id));
    if (picked.length === 0) {
      return 0;
    }
    const { records, redis, metrics } = this.deps;
    const ids = [...picked.map((record) => record.id), ...(this.dryRun ? this.removed : [])];
    // Only docker blobs share a stored object (a generic file's key is its remote and path).
    const shared = await records.keysHeldByOthers(
      picked.filter((record) => this.docker.has(record.remote)),
      ids,
    );
    // Each object freed is counted once, on the first of its records.
    const freed = new Map<string, UsedRecord>();
    for (const record of picked) {
      if (!shared.has(record.storageKey) && !freed.has(record.storageKey)) {
        freed.set(record.storageKey, record);
      }
    }
    const bytesOf = (record: UsedRecord) =>
      freed.get(record.storageKey) === record ? record.size : 0;
    if (!this.dryRun) {
      await inBatches([...freed.values()], STORAGE_CONCURRENCY, (record) =>
        this.deleteObjectUnlessRefetched(record),
      );
      await records.deleteUnlessRefetched(picked);
      // One message for the page; a single key is read as a prefix, which drops the same copy.
      if (freed.size > 0) {
        const keys = [...freed.keys()].join('\n');
        await redis.publish(STORAGE_DROPPED_CHANNEL, keys).catch(() => undefined);
      }
      picked.forEach((record) => metrics.evicted(record.remote, reason, bytesOf(record)));
    }
    let bytes = 0;
    for (const record of picked) {
      this.removed.add(record.id);
      bytes += bytesOf(record);
      this.report.objects += 1;
      this.report.bytes += bytesOf(record);
      const remote = (this.report.byRemote[record.remote] ??= { objects: 0, bytes: 0 });
      remote.objects += 1;
      remote.bytes += bytesOf(record);
      if (this.report.removed.length < MAX_LISTED) {
        const { path, size } = record;
        this.report.removed.push({ remote: record.remote, path, size, reason });
      }
    }
    return bytes;
  }
}

/** Calls `work` on every item, at most `concurrency` at a time. */
async function inBatches<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let start = 0; start < items.length; start += concurrency) {
    await Promise.all(items.slice(start, start + concurrency).map(work));
  }
}
