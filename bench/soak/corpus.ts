import { randomBytes } from 'node:crypto';
import { sha256Of } from '../../test/helpers/http';
import type { UpstreamServer } from '../../test/helpers/upstream-server';
import { VersionHistory } from './version-history';

/** The generic proxy remote the soak reads through, and its hosted neighbour. */
export const PROXY_REMOTE = 'files';
export const HOSTED_REMOTE = 'hosted';
/** paths of the proxy remote under here are mutable (the remote's mutable_patterns) */
export const INDEX_DIR = 'index';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface KnownFile {
  /** path inside the remote */
  path: string;
  size: number;
  sha256: string;
}

export interface CorpusOptions {
  /** immutable files that are read again and again (4 KiB to 4 MiB) */
  poolFiles: number;
  /** mutable index files (2 to 16 KiB a version) */
  indexFiles: number;
  /** paths that 404 upstream and are asked for repeatedly (the negative cache's share) */
  repeatedMissing: number;
}

/** A size between `min` and `max`, log-uniform: as many few-KiB files as few-MiB ones. */
export function logUniformSize(min: number, max: number, random = Math.random): number {
  return Math.round(min * (max / min) ** random());
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)];
}

/**
 * What the loopback upstream serves under the proxy remote, with the digest of every body, so
 * that every read through the cache can be checked. Bodies are random (two paths never share
 * bytes, so a mix-up is visible), held in memory: the pool is a few tens of MiB, new files are
 * retired from the upstream once read.
 */
export class Corpus {
  readonly pool: KnownFile[] = [];
  private readonly indexes = new Map<string, { history: VersionHistory; version: number }>();
  private readonly indexPaths: string[] = [];
  private readonly repeatedMissing: string[] = [];
  private sequence = 0;

  constructor(
    private readonly upstream: UpstreamServer,
    private readonly options: CorpusOptions,
  ) {}

  /** Puts the pool, the first version of every index and nothing else on the upstream. */
  publish(): void {
    const { poolFiles, indexFiles, repeatedMissing } = this.options;
    for (let i = 0; i < poolFiles; i += 1) {
      // Sizes spread evenly on a log scale from 4 KiB to 4 MiB.
      const size = Math.round(4 * KiB * 1024 ** (poolFiles > 1 ? i / (poolFiles - 1) : 0));
      const body = randomBytes(size);
      const path = `pool/${String(i).padStart(3, '0')}.bin`;
      this.upstream.set(this.upstreamPath(path), { body });
      this.pool.push({ path, size, sha256: sha256Of(body) });
    }
    for (let i = 0; i < indexFiles; i += 1) {
      const path = `${INDEX_DIR}/${String(i).padStart(2, '0')}.json`;
      this.indexes.set(path, { history: new VersionHistory(), version: 0 });
      this.indexPaths.push(path);
      this.changeIndex(path);
    }
    for (let i = 0; i < repeatedMissing; i += 1) {
      this.repeatedMissing.push(`gone/${String(i).padStart(3, '0')}.bin`);
    }
  }

  poolFile(): KnownFile {
    return pick(this.pool);
  }

  indexPath(): string {
    return pick(this.indexPaths);
  }

  /** The index's history; throws for a path that is not an index. */
  history(path: string): VersionHistory {
    const index = this.indexes.get(path);
    if (!index) {
      throw new Error(`${path} is not an index of the corpus`);
    }
    return index.history;
  }

  /** Publishes a new version of one index (a random one unless named), with a new ETag. */
  changeIndex(path = this.indexPath(), now = Date.now()): void {
    const index = this.indexes.get(path);
    if (!index) {
      throw new Error(`${path} is not an index of the corpus`);
    }
    index.version += 1;
    const padding = randomBytes(logUniformSize(1 * KiB, 8 * KiB)).toString('hex');
    const body = Buffer.from(
      JSON.stringify({ index: path, version: index.version, padding }) + '\n',
    );
    this.upstream.set(this.upstreamPath(path), {
      body,
      contentType: 'application/json',
      etag: `"v${index.version}-${randomBytes(4).toString('hex')}"`,
    });
    index.history.publish(sha256Of(body), now);
  }

  /** A file nobody asked for yet, on the upstream until `retire`. 1 KiB to 1 MiB. */
  newFile(): KnownFile & { retire(): void } {
    this.sequence += 1;
    const body = randomBytes(logUniformSize(1 * KiB, 1 * MiB));
    const path = `new/${this.sequence}-${randomBytes(3).toString('hex')}.bin`;
    const upstreamPath = this.upstreamPath(path);
    this.upstream.set(upstreamPath, { body });
    return {
      path,
      size: body.length,
      sha256: sha256Of(body),
      retire: () => this.upstream.remove(upstreamPath),
    };
  }

  /** A path the upstream answers 404: half of the time a new one, else a repeated one. */
  missingPath(): string {
    if (this.repeatedMissing.length > 0 && Math.random() < 0.5) {
      return pick(this.repeatedMissing);
    }
    this.sequence += 1;
    return `missing/${this.sequence}.bin`;
  }

  private upstreamPath(path: string): string {
    return `${PROXY_REMOTE}/${path}`;
  }
}
