import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import {
  chmod,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rmdir,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactError } from '@app/common';
import { FileBody } from './file-body';
import { HashingTransform } from './hashing.transform';
import type {
  AdoptedFile,
  CollectResult,
  ObjectInfo,
  ObjectReadResult,
  ReadOptions,
  StorageDriver,
  WriteOptions,
  WriteResult,
} from './storage-driver';
import { assertValidKey, assertValidPrefix, RESERVED_SEGMENT_PREFIX } from './storage-key';

/** What `<root>/keys/<key>` holds: the object's metadata and the name of its bytes. */
interface FsRecord {
  blob: string;
  size: number;
  sha256: string;
  contentType: string | null;
  storedAt: string;
  /** ISO 8601; absent when the writer gave none (and in records of older releases) */
  lastModified?: string;
}

/** A blob still being written (or left by a crash while it was). */
const PARTIAL_SUFFIX = '.partial';
const BLOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Failures of the disk itself rather than of one key: /health should report these. */
const UNAVAILABLE_CODES = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EMFILE',
]);

/**
 * Local-disk driver with a pointer layout:
 *
 *   <root>/keys/<key>                    small JSON record (FsRecord)
 *   <root>/blobs/<id[0..2]>/<id>         the bytes; id is a random UUID, never reused
 *   <root>/content/<sha[0..2]>/<sha256>  the same file under its digest: every blob with these
 *                                        bytes is a hard link of it, so they are stored once
 *
 * A key's blob is a name of its own for the shared file: deleting the key unlinks only that
 * name, and the file's bytes stay readable by every other key until its last blob goes. The
 * content name is removed by `collectContent` once no blob links it (link count 1).
 *
 * Publishing is a `rename` of a fully written record over the old one, so readers see either the
 * old or the new object, never a mix, and metadata always matches its bytes. A reader opens the
 * blob's file descriptor before returning, so it keeps reading the old bytes even when a
 * concurrent overwrite unlinks them (unix semantics).
 */
export class FsStorageDriver implements StorageDriver {
  readonly kind = 'fs' as const;
  /** absolute storage root */
  readonly root: string;
  private readonly keysDir: string;
  private readonly blobsDir: string;
  private readonly contentDir: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.keysDir = join(this.root, 'keys');
    this.blobsDir = join(this.root, 'blobs');
    this.contentDir = join(this.root, 'content');
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const record = await this.readRecord(this.recordPath(key), key);
    return record === null ? null : toInfo(key, record);
  }

  async read(key: string, options: ReadOptions = {}): Promise<ObjectReadResult | null> {
    const recordPath = this.recordPath(key);
    options.signal?.throwIfAborted();
    // Two attempts: a concurrent overwrite may unlink the blob between reading the record and
    // opening the blob; the record read the second time then names the new blob.
    for (let attempt = 0; attempt < 2; attempt++) {
      const record = await this.readRecord(recordPath, key);
      if (record === null) {
        return null;
      }
      let handle: FileHandle;
      try {
        handle = await open(this.blobPath(record.blob), 'r');
      } catch (error) {
        if (errorCode(error) === 'ENOENT') {
          continue;
        }
        throw toStorageError(error, 'read', key);
      }
      if (options.signal?.aborted) {
        // The client left while the file was opened: a body destroyed by addAbortSignal before
        // anyone listens would throw its AbortError out of the process.
        await handle.close().catch(() => undefined);
        options.signal.throwIfAborted();
      }
      const body = options.range
        ? new FileBody(handle, options.range.start, options.range.end)
        : new FileBody(handle, 0, record.size - 1);
      if (options.signal) {
        addAbortSignal(options.signal, body);
      }
      return { info: toInfo(key, record), body };
    }
    // The record still names a missing blob: treat it as absent so the cache fetches it again.
    return null;
  }

  async write(key: string, source: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    const recordPath = this.recordPath(key);
    const id = randomUUID();
    const blobPath = this.blobPath(id);
    const partialPath = `${blobPath}${PARTIAL_SUFFIX}`;
    const hasher = new HashingTransform({
      expectedSize: options.expectedSize,
      expectedSha256: options.expectedSha256,
    });
    let blobReady = false;
    try {
      await mkdir(dirname(blobPath), { recursive: true });
      // Open before streaming so the file surely exists when the cleanup below unlinks it; a
      // stream that opens lazily could create it after a failed pipeline was cleaned up.
      const file = await open(partialPath, 'wx');
      // flush: the bytes reach the disk (fsync) before any record names them, so after a power
      // loss a record never points at a short blob served with the full Content-Length.
      await pipeline(source, hasher, file.createWriteStream({ flush: true }), {
        signal: options.signal,
      });
      // Until here the blob is a `.partial` file, which sweepLeftovers removes when a crash
      // leaves it behind.
      await rename(partialPath, blobPath);
      blobReady = true;
      return await this.publish(
        key,
        recordPath,
        id,
        {
          size: hasher.byteCount,
          sha256: hasher.sha256,
          contentType: options.contentType ?? null,
          lastModified: options.lastModified,
        },
        options.signal,
      );
    } catch (error) {
      throw toStorageError(error, 'write', key);
    } finally {
      if (!blobReady) {
        await unlinkQuietly(partialPath);
      }
    }
  }

  async canAdopt(directory: string): Promise<boolean> {
    try {
      const [from, to] = await Promise.all([stat(directory), this.blobsDevice()]);
      return from.dev === to;
    } catch {
      return false;
    }
  }

  async adoptFile(key: string, path: string, facts: AdoptedFile): Promise<WriteResult | null> {
    const recordPath = this.recordPath(key);
    const id = randomUUID();
    const blobPath = this.blobPath(id);
    try {
      await mkdir(dirname(blobPath), { recursive: true });
      try {
        await link(path, blobPath);
      } catch (error) {
        if (errorCode(error) === 'EXDEV') {
          return null;
        }
        throw error;
      }
      // As for a written blob: on the disk before a record names it. Readable by every process
      // sharing the storage, whatever the private mode of the file it was.
      await chmod(blobPath, 0o644);
      const file = await open(blobPath, 'r');
      try {
        await file.sync();
      } finally {
        await file.close();
      }
      return await this.publish(key, recordPath, id, facts);
    } catch (error) {
      throw toStorageError(error, 'write', key);
    }
  }

  /**
   * Names a complete, synced blob in the record of `key` (atomically: rename), then drops the
   * blob the record named before. When it fails the new blob is removed and nothing changed.
   */
  private async publish(
    key: string,
    recordPath: string,
    id: string,
    facts: AdoptedFile,
    signal?: AbortSignal,
  ): Promise<WriteResult> {
    const { lastModified, ...rest } = facts;
    const record: FsRecord = {
      blob: id,
      ...rest,
      storedAt: new Date().toISOString(),
      ...(lastModified && { lastModified: lastModified.toISOString() }),
    };
    let tempRecord: string | null = null;
    let published = false;
    try {
      await this.shareBlob(id, record.sha256, record.size);
      tempRecord = await this.writeTempRecord(key, recordPath, record);
      signal?.throwIfAborted();
      const previous = await this.readRecord(recordPath, key).catch(() => null);
      try {
        await rename(tempRecord, recordPath);
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') {
          throw conflict(key, error);
        }
        throw error;
      }
      published = true;
      await syncDirectory(dirname(recordPath));
      // Two concurrent writers of one key may both read the same previous record; the loser's
      // blob is then left unreferenced. That leaks disk space, never serves wrong bytes.
      if (previous !== null && previous.blob !== id) {
        await unlinkQuietly(this.blobPath(previous.blob));
      }
      return { size: record.size, sha256: record.sha256 };
    } finally {
      if (!published) {
        await unlinkQuietly(this.blobPath(id));
        if (tempRecord !== null) {
          await unlinkQuietly(tempRecord);
        }
      }
    }
  }

  /**
   * Makes blob `id` a name of the content `sha256`: its first copy, or a link to the copy stored
   * already (the blob's own bytes are then dropped). Best effort: a filesystem that refuses the
   * links leaves the blob with bytes of its own. True when the blob shares the content.
   */
  private async shareBlob(id: string, sha256: string, size: number): Promise<boolean> {
    const blob = this.blobPath(id);
    const content = this.contentPath(sha256);
    await mkdir(dirname(content), { recursive: true });
    // Three attempts: the collector may remove the content between our two steps.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(blob, content);
        return true;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') {
          return false;
        }
      }
      const stored = await stat(content).catch(() => null);
      if (stored === null) {
        continue;
      }
      if (stored.size !== size) {
        return false;
      }
      // Replace the blob's name, never the record: a reader holding the old file keeps it.
      const temp = `${blob}.${randomUUID()}${PARTIAL_SUFFIX}`;
      try {
        await link(content, temp);
      } catch (error) {
        if (errorCode(error) === 'ENOENT') {
          continue;
        }
        return false;
      }
      try {
        await rename(temp, blob);
        return true;
      } catch {
        await unlinkQuietly(temp);
        return false;
      }
    }
    return false;
  }

  async contentSize(sha256: string): Promise<number | null> {
    const info = await stat(this.contentPath(sha256)).catch(() => null);
    return info === null ? null : info.size;
  }

  async collectContent(sha256: string, _seenVersion: string | null): Promise<CollectResult> {
    const content = this.contentPath(sha256);
    let info;
    try {
      info = await stat(content);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') {
        return { outcome: 'absent' };
      }
      throw toStorageError(error, 'collect', sha256);
    }
    // A blob linking it is a key using it. One that links it after this check holds the file
    // itself, so removing the name cannot take its bytes.
    if (info.nlink > 1) {
      return { outcome: 'kept' };
    }
    try {
      await unlink(content);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') {
        return { outcome: 'absent' };
      }
      throw toStorageError(error, 'collect', sha256);
    }
    return { outcome: 'collected', size: info.size };
  }

  async shareStored(key: string): Promise<boolean> {
    const recordPath = this.recordPath(key);
    try {
      const record = await this.readRecord(recordPath, key);
      if (record === null) {
        return false;
      }
      const [own, content] = await Promise.all([
        stat(this.blobPath(record.blob)).catch(() => null),
        stat(this.contentPath(record.sha256)).catch(() => null),
      ]);
      if (
        own === null ||
        (content !== null && content.ino === own.ino && content.dev === own.dev)
      ) {
        return false;
      }
      const shared = await this.shareBlob(record.blob, record.sha256, record.size);
      // A write that replaced the key meanwhile unlinked this blob first: drop the name again.
      const now = await this.readRecord(recordPath, key).catch(() => null);
      if (now?.blob !== record.blob) {
        await unlinkQuietly(this.blobPath(record.blob));
      }
      return shared;
    } catch (error) {
      throw toStorageError(error, 'share', key);
    }
  }

  private contentPath(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) {
      throw new Error(`bad content digest ${JSON.stringify(sha256)}`);
    }
    return join(this.contentDir, sha256.slice(0, 2), sha256);
  }

  private blobsDeviceId: Promise<number> | null = null;

  /** The device of the blobs directory (created if need be), read once. */
  private blobsDevice(): Promise<number> {
    this.blobsDeviceId ??= mkdir(this.blobsDir, { recursive: true })
      .then(() => stat(this.blobsDir))
      .then((info) => info.dev);
    this.blobsDeviceId.catch(() => {
      this.blobsDeviceId = null;
    });
    return this.blobsDeviceId;
  }

  async sweepLeftovers(olderThan: Date): Promise<number> {
    let removed = 0;
    let shards: string[];
    try {
      shards = await readdir(this.blobsDir);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') {
        return 0;
      }
      throw toStorageError(error, 'sweep', 'blobs');
    }
    for (const shard of shards) {
      let names: string[];
      try {
        names = await readdir(join(this.blobsDir, shard));
      } catch {
        continue;
      }
      for (const name of names) {
        if (!name.endsWith(PARTIAL_SUFFIX)) {
          continue;
        }
        const path = join(this.blobsDir, shard, name);
        const info = await stat(path).catch(() => null);
        if (info !== null && info.mtime < olderThan) {
          await unlinkQuietly(path);
          removed++;
        }
      }
    }
    return removed;
  }

  async delete(key: string): Promise<boolean> {
    const recordPath = this.recordPath(key);
    const record = await this.readRecord(recordPath, key);
    if (record === null) {
      return false;
    }
    try {
      await unlink(recordPath);
    } catch (error) {
      // ENOENT: a concurrent delete won; EISDIR: the key is only a prefix of other keys.
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
        return false;
      }
      throw toStorageError(error, 'delete', key);
    }
    await unlinkQuietly(this.blobPath(record.blob));
    await this.pruneEmptyDirs(dirname(recordPath));
    return true;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    const dirPart = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const start = resolve(this.keysDir, dirPart);
    if (start !== this.keysDir && !start.startsWith(this.keysDir + sep)) {
      throw new ArtifactError('bad_path', `prefix ${JSON.stringify(prefix)} escapes the root`);
    }
    for await (const key of this.walk(start, dirPart, prefix)) {
      const record = await this.readRecord(join(this.keysDir, key), key);
      if (record !== null) {
        yield toInfo(key, record);
      }
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    for await (const info of this.list(prefix)) {
      if (await this.delete(info.key)) {
        deleted++;
      }
    }
    return deleted;
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.keysDir, { recursive: true });
      await mkdir(this.blobsDir, { recursive: true });
      const probe = join(this.root, `${RESERVED_SEGMENT_PREFIX}.check.${randomUUID()}`);
      await writeFile(probe, 'ok', { flag: 'wx' });
      await unlink(probe);
    } catch (error) {
      throw new ArtifactError(
        'storage_unavailable',
        `storage root ${this.root} is not writable: ${errorMessage(error)}`,
      );
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Absolute record path; re-checks the key even though routes already cleaned it. */
  private recordPath(key: string): string {
    assertValidKey(key);
    const path = resolve(this.keysDir, key);
    if (!path.startsWith(this.keysDir + sep)) {
      throw new ArtifactError('bad_path', `key ${JSON.stringify(key)} escapes the storage root`);
    }
    return path;
  }

  private blobPath(id: string): string {
    // The id comes from a record on disk: never let it name a path outside blobs/.
    if (!BLOB_ID.test(id)) {
      throw new Error(`corrupt storage record: bad blob id ${JSON.stringify(id)}`);
    }
    return join(this.blobsDir, id.slice(0, 2), id);
  }

  private async readRecord(path: string, key: string): Promise<FsRecord | null> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      // ENOTDIR: a parent is a record; EISDIR: the key is only a prefix of other keys.
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') {
        return null;
      }
      throw toStorageError(error, 'read', key);
    }
    return parseRecord(text, key);
  }

  /**
   * Writes the record to a temp file in the final record's directory (so the rename stays in one
   * directory). The directory may be removed by a concurrent delete pruning empty directories
   * between our mkdir and the write: then create it again.
   */
  private async writeTempRecord(
    key: string,
    recordPath: string,
    record: FsRecord,
  ): Promise<string> {
    const dir = dirname(recordPath);
    const temp = join(dir, `${RESERVED_SEGMENT_PREFIX}.${randomUUID()}.tmp`);
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EEXIST' || code === 'ENOTDIR') {
          throw conflict(key, error);
        }
        throw error;
      }
      try {
        const file = await open(temp, 'wx');
        try {
          await file.writeFile(JSON.stringify(record));
          await file.sync();
        } finally {
          await file.close();
        }
        return temp;
      } catch (error) {
        if (errorCode(error) !== 'ENOENT' || attempt >= 3) {
          throw error;
        }
      }
    }
  }

  /** Removes now-empty directories up to keys/, so a deleted prefix can become a key again. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    let current = dir;
    while (current !== this.keysDir && current.startsWith(this.keysDir + sep)) {
      try {
        await rmdir(current);
      } catch {
        return;
      }
      current = dirname(current);
    }
  }

  /** Yields the keys under `dir` (whose key prefix is `relDir`) that start with `prefix`. */
  private async *walk(dir: string, relDir: string, prefix: string): AsyncGenerator<string> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        return;
      }
      throw toStorageError(error, 'list', relDir);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith(RESERVED_SEGMENT_PREFIX)) {
        continue;
      }
      const rel = relDir + entry.name;
      if (entry.isDirectory()) {
        const childPrefix = `${rel}/`;
        if (childPrefix.startsWith(prefix) || prefix.startsWith(childPrefix)) {
          yield* this.walk(join(dir, entry.name), childPrefix, prefix);
        }
      } else if (entry.isFile() && rel.startsWith(prefix)) {
        yield rel;
      }
    }
  }
}

function parseRecord(text: string, key: string): FsRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  const record = value as Partial<FsRecord> | null;
  if (
    record === null ||
    typeof record !== 'object' ||
    typeof record.blob !== 'string' ||
    typeof record.size !== 'number' ||
    typeof record.sha256 !== 'string' ||
    !SHA256_HEX.test(record.sha256) ||
    (record.contentType !== null && typeof record.contentType !== 'string') ||
    typeof record.storedAt !== 'string' ||
    (record.lastModified !== undefined && typeof record.lastModified !== 'string')
  ) {
    throw new Error(`corrupt storage record for key ${JSON.stringify(key)}`);
  }
  return record as FsRecord;
}

function toInfo(key: string, record: FsRecord): ObjectInfo {
  return {
    key,
    size: record.size,
    sha256: record.sha256,
    contentType: record.contentType,
    storedAt: new Date(record.storedAt),
    ...(record.lastModified !== undefined && { lastModified: new Date(record.lastModified) }),
  };
}

function conflict(key: string, cause: unknown): ArtifactError {
  return new ArtifactError(
    'conflict',
    `storage key ${JSON.stringify(key)} conflicts with an existing key: one is a directory prefix ` +
      `of the other (${errorMessage(cause)})`,
  );
}

function toStorageError(error: unknown, op: string, key: string): unknown {
  if (error instanceof ArtifactError) {
    return error;
  }
  const code = errorCode(error);
  if (code === 'ENAMETOOLONG') {
    return new ArtifactError('bad_path', `storage key ${JSON.stringify(key)}: name too long`);
  }
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
    return new ArtifactError(
      'storage_unavailable',
      `fs storage ${op} ${JSON.stringify(key)}: ${errorMessage(error)}`,
    );
  }
  return error;
}

/** Makes a rename in `dir` durable; a directory that cannot be synced (some filesystems) is no error. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort: the record is published either way
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // already gone, or the disk is failing: the caller's own outcome matters more
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
