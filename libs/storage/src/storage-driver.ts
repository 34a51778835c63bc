import type { Readable } from 'node:stream';

export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');

/** What a driver knows about a stored object without reading its bytes. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** hex sha256 of the whole object, recorded at write time */
  sha256: string;
  contentType: string | null;
  storedAt: Date;
  /** the upstream's Last-Modified, when it sent one at write time */
  lastModified?: Date;
}

/** Inclusive byte range, already validated against the object's size by the caller. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ReadOptions {
  range?: ByteRange;
  signal?: AbortSignal;
}

export interface ObjectReadResult {
  info: ObjectInfo;
  body: Readable;
}

export interface WriteOptions {
  contentType?: string | null;
  /** write fails (nothing published) when the byte count differs */
  expectedSize?: number;
  /** hex sha256; write fails (nothing published) when the digest differs */
  expectedSha256?: string;
  /** kept with the object and returned by head and read (an upstream's Last-Modified) */
  lastModified?: Date;
  signal?: AbortSignal;
}

export interface WriteResult {
  size: number;
  sha256: string;
}

/**
 * What `collectContent` did with a stored content. `seen`: nothing yet; this is the version the
 * content has now, to pass back on the next look (s3 compares them on its own clock).
 */
export type CollectResult =
  | { outcome: 'collected'; size: number }
  | { outcome: 'kept' | 'absent' }
  | { outcome: 'seen'; version: string };

/** What the caller of `adoptFile` measured of a file as it wrote it. */
export interface AdoptedFile {
  size: number;
  /** hex sha256 of the file's bytes */
  sha256: string;
  contentType: string | null;
  lastModified?: Date;
}

/**
 * Object storage as the cache sees it. Keys are relative, '/'-separated, never contain '.' or '..'
 * segments, backslashes or NUL; drivers re-check them.
 *
 * `write` publishes atomically: the object becomes visible only once every byte arrived and the
 * expected size/digest (when given) matched; a failed or aborted write leaves the previous object
 * (if any) in place and nothing half-written that `head`/`read`/`list` could return.
 *
 * Bytes are stored once per content: every key whose bytes have the same sha256 names one stored
 * content (fs: hard links of one file; s3: small pointer objects naming one content object).
 * Deleting a key leaves its content; `collectContent` removes a content no key uses any more.
 */
export interface StorageDriver {
  readonly kind: 'fs' | 's3';
  head(key: string): Promise<ObjectInfo | null>;
  /** null when the key does not exist */
  read(key: string, options?: ReadOptions): Promise<ObjectReadResult | null>;
  write(key: string, source: Readable, options?: WriteOptions): Promise<WriteResult>;
  /**
   * Whether `adoptFile` can take a file from `directory` (fs: on the storage's filesystem).
   * Asked before a download starts, so that one that cannot be adopted streams into `write`.
   */
  canAdopt(directory: string): Promise<boolean>;
  /**
   * Publishes the complete local file at `path` as `key` without copying its bytes (fs: a hard
   * link), atomically like `write`. The caller vouches for `facts` (it hashed and counted the
   * bytes as they arrived) and never changes the file again. Null when the file cannot be
   * adopted after all (then nothing was published; the caller writes it).
   */
  adoptFile(key: string, path: string, facts: AdoptedFile): Promise<WriteResult | null>;
  /** true when something was deleted (the key; its content stays for `collectContent`) */
  delete(key: string): Promise<boolean>;
  /** The size of the stored content with this digest, or null when none is stored. */
  contentSize(sha256: string): Promise<number | null>;
  /**
   * Removes the content `sha256`, which no record names, unless a key may still use it. fs: a
   * key's blob still links it ('kept'); removing the name never takes bytes from a key. s3: the
   * first look (`seenVersion` null) only answers the content's version ('seen'); a later look
   * removes it when that version is unchanged, and keeps it when a write stored it again since.
   */
  collectContent(sha256: string, seenVersion: string | null): Promise<CollectResult>;
  /**
   * Makes `key`, stored by an older release with bytes of its own, use the shared content of its
   * digest (its own copy is freed when that content was stored already). False when there was
   * nothing to do: no such key, or it shares already.
   */
  shareStored(key: string): Promise<boolean>;
  /** every object whose key starts with `prefix` (plain string prefix) */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** deletes every object whose key starts with `prefix`; returns how many */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * Removes what interrupted writes left behind (fs: `.partial` blobs; s3: staging objects and
   * incomplete multipart uploads) that is older than `olderThan`; returns how many. Only ever
   * called with an age no running write can reach.
   */
  sweepLeftovers(olderThan: Date): Promise<number>;
  /** resolves when the backend is usable (for /health), rejects otherwise */
  check(): Promise<void>;
  close(): Promise<void>;
}
