import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { addAbortSignal, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  type CompletedPart,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { AppConfig } from '@app/config';
import { ArtifactError, isArtifactError } from '@app/common';
import { HashingTransform } from './hashing.transform';
import { guardStalls } from './stall-guard';
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
import {
  assertValidKey,
  assertValidPrefix,
  isValidKey,
  RESERVED_SEGMENT_PREFIX,
} from './storage-key';

export type S3StorageConfig = Extract<AppConfig['storage'], { driver: 's3' }>;

/** Tuning knobs; the defaults are what production uses. Tests lower the copy limits. */
export interface S3StorageDriverOptions {
  /** objects larger than this are copied with UploadPartCopy instead of CopyObject */
  multipartCopyThreshold?: number;
  /** part size for UploadPartCopy (at least 5 MiB except the last part) */
  copyPartSize?: number;
  /** sockets per host in the keep-alive agent */
  maxSockets?: number;
}

/** To open a connection to the S3 server. */
const S3_CONNECT_TIMEOUT_MS = 3000;
/**
 * Longest a write or metadata call's socket may see no progress (an upload part's bytes move). A
 * stopped server holds a publishing miss for (buffered bytes + this) × attempts while its clients
 * wait for their last byte; a busy one may take seconds to answer a part (s3rver on a loaded
 * machine took over 10 s).
 */
const S3_IDLE_TIMEOUT_MS = 15_000;
/** From sending an object read to its response headers. */
const S3_READ_HEADERS_TIMEOUT_MS = 10_000;
/** Longest silence of an object body while the reader wants data. */
const S3_BODY_STALL_MS = 10_000;
const S3_MAX_ATTEMPTS = 2;
/** Leftovers are listed in pages of this many. */
const SWEEP_PAGE = 1000;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const UPLOAD_PART_SIZE = 8 * MiB;
// Two parts in flight: a fetcher's memory stays flat (about 3 parts per upload) while the next
// part fills; more parallelism buys little on the loopback or LAN links a cache sits on.
const UPLOAD_QUEUE_SIZE = 2;
/** CopyObject refuses sources larger than 5 GiB. */
const COPY_OBJECT_LIMIT = 5 * GiB;
const MAX_PARTS = 10_000;
const COPY_CONCURRENCY = 4;
const HEAD_CONCURRENCY = 16;
const DELETE_BATCH = 1000;
const STAGING_PREFIX = `${RESERVED_SEGMENT_PREFIX}/`;
/** Where the bytes are, one object per content (by sha256), named by the keys' pointers. */
const CONTENT_PREFIX = `${RESERVED_SEGMENT_PREFIX}-content/`;
/** user metadata name: sent as `x-amz-meta-sha256` */
const SHA256_META = 'sha256';
/** user metadata name for the upstream's Last-Modified (ISO 8601) */
const LAST_MODIFIED_META = 'upstream-last-modified';
/** user metadata name that makes an object a pointer: the size of the content it names */
const CONTENT_SIZE_META = 'content-size';

function contentKey(sha256: string): string {
  return `${CONTENT_PREFIX}${sha256}`;
}

/** An object of an older release holds its key's bytes itself; a pointer names its content. */
function isPointer(metadata: Record<string, string> | undefined): boolean {
  return metadata?.[CONTENT_SIZE_META] !== undefined;
}

/** What an object's headers say of its key; null when this driver did not write it. */
function objectInfo(
  key: string,
  out: HeadObjectCommandOutput | GetObjectCommandOutput,
): ObjectInfo | null {
  const sha256 = out.Metadata?.[SHA256_META];
  if (sha256 === undefined || !SHA256_HEX.test(sha256)) {
    return null;
  }
  const contentSize = out.Metadata?.[CONTENT_SIZE_META];
  if (contentSize !== undefined && !/^\d+$/.test(contentSize)) {
    return null;
  }
  return {
    key,
    size: contentSize !== undefined ? Number(contentSize) : (out.ContentLength ?? 0),
    sha256,
    contentType: out.ContentType ?? null,
    storedAt: out.LastModified ?? new Date(0),
    ...lastModifiedOf(out.Metadata),
  };
}

/** The user metadata of an object this driver writes. */
function metadataOf(sha256: string, lastModified: Date | undefined): Record<string, string> {
  return {
    [SHA256_META]: sha256,
    ...(lastModified && { [LAST_MODIFIED_META]: lastModified.toISOString() }),
  };
}

/** The upstream's Last-Modified kept in an object's metadata, if any (and valid). */
function lastModifiedOf(metadata: Record<string, string> | undefined): { lastModified?: Date } {
  const value = metadata?.[LAST_MODIFIED_META];
  const date = value === undefined ? Number.NaN : Date.parse(value);
  return Number.isNaN(date) ? {} : { lastModified: new Date(date) };
}
const SHA256_HEX = /^[0-9a-f]{64}$/;
const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+)$/;

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
]);

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  errors?: unknown[];
  $metadata?: { httpStatusCode?: number };
}

/**
 * S3-compatible object storage (AWS, MinIO, Ceph, Garage, s3rver). The object's sha256 is its only
 * user metadata (`x-amz-meta-sha256`); an object without it was not written by this driver (or is
 * a foreign/partial object) and is treated as absent rather than served unverified.
 */
export class S3StorageDriver implements StorageDriver {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly readClient: S3Client;
  private readonly bucket: string;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  private readonly multipartCopyThreshold: number;
  private readonly copyPartSize: number;
  private deleteObjectsSupported = true;

  constructor(config: S3StorageConfig, options: S3StorageDriverOptions = {}) {
    this.bucket = config.bucket;
    this.multipartCopyThreshold = options.multipartCopyThreshold ?? COPY_OBJECT_LIMIT;
    this.copyPartSize = options.copyPartSize ?? 512 * MiB;
    // The gateway streams many objects at once: without keep-alive every read pays a TCP (and TLS)
    // handshake, and the SDK's default of 50 sockets queues reads behind slow clients.
    const maxSockets = options.maxSockets ?? 512;
    this.httpAgent = new HttpAgent({ keepAlive: true, maxSockets });
    this.httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets });
    const clientConfig = {
      region: config.region,
      endpoint: config.endpoint ?? undefined,
      forcePathStyle: config.forcePathStyle,
      credentials:
        config.accessKeyId !== null && config.secretAccessKey !== null
          ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
          : undefined,
      // MinIO, Ceph, Garage and others reject the SDK's default streaming (aws-chunked) checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED' as const,
      responseChecksumValidation: 'WHEN_REQUIRED' as const,
      // Each attempt has its deadline below; retrying a server that stopped answering only adds
      // another, so one retry (for a 5xx or a dropped connection) is the most worth waiting for.
      maxAttempts: S3_MAX_ATTEMPTS,
    };
    // Deadlines: a stopped or partitioned S3 server must cost seconds, never a hang. Uploads,
    // copies and metadata calls give up after S3_IDLE_TIMEOUT_MS without progress on the socket
    // (a part upload is in progress as long as its bytes move). Object reads give up without
    // response headers after S3_READ_HEADERS_TIMEOUT_MS, and their bodies have a stall guard that
    // only counts while the reader wants data: a socket idle timeout would also cut slow clients.
    this.client = new S3Client({
      ...clientConfig,
      requestHandler: {
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
        connectionTimeout: S3_CONNECT_TIMEOUT_MS,
        socketTimeout: S3_IDLE_TIMEOUT_MS,
      },
    });
    this.readClient = new S3Client({
      ...clientConfig,
      requestHandler: {
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
        connectionTimeout: S3_CONNECT_TIMEOUT_MS,
        requestTimeout: S3_READ_HEADERS_TIMEOUT_MS,
        throwOnRequestTimeout: true,
      },
    });
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    const out = await this.headObject(key, 'head');
    return out === null ? null : objectInfo(key, out);
  }

  /** null when the object does not exist */
  private async headObject(key: string, op: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) {
        return null;
      }
      throw toStorageError(error, op, key);
    }
  }

  async read(key: string, options: ReadOptions = {}): Promise<ObjectReadResult | null> {
    assertValidKey(key);
    options.signal?.throwIfAborted();
    const { range, signal } = options;
    // One request for an object of an older release: metadata and bytes come from the same
    // object version. A pointer's content is immutable, so reading it next pairs them as well.
    let out: GetObjectCommandOutput | null;
    let unsatisfiable: ArtifactError | null = null;
    try {
      out = await this.getObject(key, range, signal);
    } catch (error) {
      // A pointer has no bytes of its own: a ranged GET of it is unsatisfiable.
      if (!(range && isArtifactError(error, 'range_not_satisfiable'))) {
        throw error;
      }
      unsatisfiable = error;
      out = await this.getObject(key, undefined, signal);
    }
    if (out === null) {
      return null;
    }
    const body = bodyOf(out, key);
    const info = objectInfo(key, out);
    if (info === null || isPointer(out.Metadata)) {
      body.resume();
      if (info === null) {
        return null;
      }
      const content = await this.getObject(contentKey(info.sha256), range, signal);
      // A content collected under a pointer a lost record left: as good as missing.
      return content === null ? null : this.readResult(info, content, range, signal);
    }
    if (unsatisfiable !== null) {
      body.destroy();
      throw unsatisfiable;
    }
    return this.readResult(info, out, range, signal);
  }

  /** null when the object does not exist */
  private async getObject(
    key: string,
    range: ReadOptions['range'],
    signal: AbortSignal | undefined,
  ): Promise<GetObjectCommandOutput | null> {
    try {
      return await this.readClient.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (isNotFound(error)) {
        return null;
      }
      if (httpStatus(error) === 416) {
        throw new ArtifactError('range_not_satisfiable', `range not satisfiable for ${key}`);
      }
      throw toStorageError(error, 'read', key);
    }
  }

  /** The bytes `out` carries of the object `info` describes, cut to `range`. */
  private readResult(
    info: ObjectInfo,
    out: GetObjectCommandOutput,
    range: ReadOptions['range'],
    signal: AbortSignal | undefined,
  ): ObjectReadResult {
    const { key } = info;
    const body = bodyOf(out, key);
    let size = out.ContentLength ?? 0;
    let stream: Readable = body;
    if (range) {
      const match = CONTENT_RANGE.exec(out.ContentRange ?? '');
      // A 200 carries the whole object; a 206 says which bytes it carries.
      const got = match
        ? { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) }
        : { start: 0, end: size - 1, total: size };
      size = got.total;
      if (got.start > range.start || got.end < range.end) {
        body.destroy();
        throw new ArtifactError(
          'range_not_satisfiable',
          `s3 read ${key}: asked for bytes ${range.start}-${range.end}, ` +
            `the object (${got.total} bytes) has bytes ${got.start}-${got.end}`,
        );
      }
      if (got.start !== range.start || got.end !== range.end) {
        // Some servers send more than asked: s3rver answers `bytes=0-0` with the whole object.
        stream = sliceStream(body, range.start - got.start, range.end - range.start + 1);
      }
    }
    if (signal) {
      // abortSignal above only covers the request; the body outlives it.
      addAbortSignal(signal, stream);
    }
    guardStalls(
      body,
      S3_BODY_STALL_MS,
      () =>
        new ArtifactError(
          'storage_unavailable',
          `s3 read ${key}: the server sent nothing for ${S3_BODY_STALL_MS} ms`,
        ),
    );
    return { info: { ...info, size }, body: stream };
  }

  /** Objects are uploaded: a local file is never adopted. */
  canAdopt(_directory: string): Promise<boolean> {
    return Promise.resolve(false);
  }

  adoptFile(_key: string, _path: string, _facts: AdoptedFile): Promise<WriteResult | null> {
    return Promise.resolve(null);
  }

  async write(key: string, source: Readable, options: WriteOptions = {}): Promise<WriteResult> {
    assertValidKey(key);
    const hasher = new HashingTransform({
      expectedSize: options.expectedSize,
      expectedSha256: options.expectedSha256,
    });
    // The bytes go to their content object, then the key becomes a pointer to it. With a known
    // digest the upload goes straight to the content: a mismatch fails the hasher in flush, the
    // upload is aborted and the content stored before (if any) stays. Without one, the digest is
    // only known at the end, so the bytes go to a staging key and a server-side copy stores them.
    // A content stored already is written again (same bytes): a collector that found it
    // unreferenced then sees it as stored after that, and keeps it.
    const expectedSha256 = options.expectedSha256?.toLowerCase();
    const direct = expectedSha256 !== undefined;
    const target = direct ? contentKey(expectedSha256) : `${STAGING_PREFIX}${randomUUID()}`;
    try {
      await this.upload(
        target,
        source,
        hasher,
        undefined,
        direct ? metadataOf(expectedSha256, undefined) : undefined,
        options.signal,
      );
      // The pointer is the commit: an abort that arrives once the content is stored is too late.
      if (!direct) {
        options.signal?.throwIfAborted();
        await this.copyToContent(target, hasher.sha256, hasher.byteCount);
      }
      await this.putPointer(key, {
        size: hasher.byteCount,
        sha256: hasher.sha256,
        contentType: options.contentType ?? null,
        lastModified: options.lastModified,
      });
      return { size: hasher.byteCount, sha256: hasher.sha256 };
    } catch (error) {
      throw toStorageError(error, 'write', key);
    } finally {
      if (!direct) {
        // Not awaited: with the server in trouble a cleanup call takes its full deadline, and the
        // caller (a client waiting for a publish) should hear of the failure now. What a failed
        // cleanup leaves, sweepLeftovers removes.
        void this.client
          .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: target }))
          .catch(() => undefined);
      }
    }
  }

  /** Stores the object `source` as the content `sha256` (server-side). */
  private copyToContent(source: string, sha256: string, size: number): Promise<void> {
    return this.copy(source, contentKey(sha256), size, metadataOf(sha256, undefined), undefined);
  }

  /** Makes `key` an empty object whose metadata describes the stored content it names. */
  private async putPointer(key: string, facts: AdoptedFile): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: new Uint8Array(0),
        ContentLength: 0,
        ContentType: facts.contentType ?? undefined,
        Metadata: {
          ...metadataOf(facts.sha256, facts.lastModified),
          [CONTENT_SIZE_META]: String(facts.size),
        },
      }),
    );
  }

  async contentSize(sha256: string): Promise<number | null> {
    const out = await this.headObject(contentKey(sha256), 'head');
    return out === null ? null : (out.ContentLength ?? 0);
  }

  async collectContent(sha256: string, seenVersion: string | null): Promise<CollectResult> {
    const key = contentKey(sha256);
    const out = await this.headObject(key, 'collect');
    if (out === null) {
      return { outcome: 'absent' };
    }
    // Every write stores its content again, so a changed Last-Modified (the server's own clock)
    // is a write that raced the collector since its first look.
    const version = `${(out.LastModified ?? new Date(0)).toISOString()} ${out.ETag ?? ''}`;
    if (seenVersion === null) {
      return { outcome: 'seen', version };
    }
    if (version !== seenVersion) {
      return { outcome: 'kept' };
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      throw toStorageError(error, 'collect', key);
    }
    return { outcome: 'collected', size: out.ContentLength ?? 0 };
  }

  async shareStored(key: string): Promise<boolean> {
    assertValidKey(key);
    const out = await this.headObject(key, 'share');
    const info = out === null ? null : objectInfo(key, out);
    if (out === null || info === null || isPointer(out.Metadata)) {
      return false;
    }
    try {
      await this.copyToContent(key, info.sha256, info.size);
      await this.putPointer(key, info);
    } catch (error) {
      throw toStorageError(error, 'share', key);
    }
    return true;
  }

  async delete(key: string): Promise<boolean> {
    assertValidKey(key);
    // DeleteObject succeeds whether or not the key existed; HEAD first to answer the question.
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) {
        return false;
      }
      throw toStorageError(error, 'delete', key);
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      throw toStorageError(error, 'delete', key);
    }
    return true;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    for await (const keys of this.listKeyPages(prefix)) {
      for (let i = 0; i < keys.length; i += HEAD_CONCURRENCY) {
        const infos = await Promise.all(
          keys.slice(i, i + HEAD_CONCURRENCY).map((key) => this.head(key)),
        );
        for (const info of infos) {
          if (info !== null) {
            yield info;
          }
        }
      }
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    assertValidPrefix(prefix);
    let deleted = 0;
    // Continuation tokens are key positions, so deleting a page before fetching the next is safe.
    for await (const keys of this.listKeyPages(prefix)) {
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        deleted += await this.deleteBatch(keys.slice(i, i + DELETE_BATCH));
      }
    }
    return deleted;
  }

  async sweepLeftovers(olderThan: Date): Promise<number> {
    let removed = 0;
    for await (const objects of this.listObjectPages(STAGING_PREFIX, 'sweep', SWEEP_PAGE)) {
      const old = objects.filter(
        (object) => object.Key !== undefined && (object.LastModified ?? new Date()) < olderThan,
      );
      if (old.length > 0) {
        removed += await this.deleteBatch(old.map((object) => object.Key as string));
      }
    }
    return removed + (await this.abortOldUploads(olderThan));
  }

  /** Multipart uploads a crash left open: their parts are billed and never expire by themselves. */
  private async abortOldUploads(olderThan: Date): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
            MaxUploads: SWEEP_PAGE,
          }),
        );
      } catch (error) {
        const status = httpStatus(error);
        if (
          status === 501 ||
          status === 405 ||
          (error as SdkError | null)?.name === 'NotImplemented'
        ) {
          return aborted;
        }
        throw toStorageError(error, 'sweep', 'multipart uploads');
      }
      for (const upload of page.Uploads ?? []) {
        if (upload.Key && upload.UploadId && (upload.Initiated ?? new Date()) < olderThan) {
          await this.client
            .send(
              new AbortMultipartUploadCommand({
                Bucket: this.bucket,
                Key: upload.Key,
                UploadId: upload.UploadId,
              }),
            )
            .then(() => aborted++)
            .catch(() => undefined);
        }
      }
      if (!page.IsTruncated) {
        return aborted;
      }
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw new ArtifactError(
        'storage_unavailable',
        `s3 bucket ${this.bucket} is not reachable: ${describeError(error)}`,
      );
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    this.readClient.destroy();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    return Promise.resolve();
  }

  /**
   * Streams source → hasher → multipart Upload. The Upload is the hasher's only reader, so when it
   * fails first, the hasher is destroyed to release the pipeline; when the source or the hasher
   * fails first (short body, wrong digest, abort), that error is the one reported: the Upload's
   * own error may only be its failed AbortMultipartUpload (s3rver does not implement it).
   */
  private async upload(
    key: string,
    source: Readable,
    hasher: HashingTransform,
    contentType: string | undefined,
    metadata: Record<string, string> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: hasher,
        ContentType: contentType,
        Metadata: metadata,
      },
      partSize: UPLOAD_PART_SIZE,
      queueSize: UPLOAD_QUEUE_SIZE,
      // lib-storage would await its AbortMultipartUpload before reporting a failure (a stopped
      // server: another full deadline); we abort on the side instead (see abortQuietly).
      leavePartsOnError: true,
    });
    // The signal is given to the pipeline, not to upload.abort(): abort() makes done() reject at
    // once while a CompleteMultipartUpload may still be in flight and publish the object later.
    // Destroying the pipeline instead fails the Upload's read, which aborts before completing.
    let pumpDone = false;
    let pumpFailure: { error: unknown } | undefined;
    const pumping = pipeline(source, hasher, { signal }).then(
      () => {
        pumpDone = true;
      },
      (error: unknown) => {
        pumpDone = true;
        pumpFailure = { error };
      },
    );
    let uploadFailure: { error: unknown; first: boolean } | undefined;
    const uploading = upload.done().then(
      () => undefined,
      (error: unknown) => {
        uploadFailure = { error, first: !pumpDone };
        if (!pumpDone) {
          hasher.destroy(error instanceof Error ? error : new Error(describeError(error)));
        }
      },
    );
    await Promise.all([pumping, uploading]);
    if (pumpFailure !== undefined || uploadFailure !== undefined) {
      this.abortQuietly(key, upload.uploadId);
    }
    if (pumpFailure !== undefined && !(uploadFailure?.first ?? false)) {
      throw pumpFailure.error;
    }
    if (uploadFailure !== undefined) {
      throw uploadFailure.error;
    }
  }

  /** Drops a failed multipart upload's parts without holding up the failure's report. */
  private abortQuietly(key: string, uploadId: string | undefined): void {
    if (uploadId !== undefined) {
      void this.client
        .send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
        )
        .catch(() => undefined);
    }
  }

  /** Publishes `source` as `key` with its metadata (metadataOf) and content type, server-side. */
  private async copy(
    source: string,
    key: string,
    size: number,
    metadata: Record<string, string>,
    contentType: string | undefined,
  ): Promise<void> {
    const copySource = encodeCopySource(this.bucket, source);
    if (size <= this.multipartCopyThreshold) {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: key,
          CopySource: copySource,
          MetadataDirective: 'REPLACE',
          Metadata: metadata,
          ContentType: contentType,
        }),
      );
      return;
    }
    // CopyObject is limited to 5 GiB: larger objects are copied part by part.
    const partSize = Math.max(this.copyPartSize, Math.ceil(size / MAX_PARTS));
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        Metadata: metadata,
        ContentType: contentType,
      }),
    );
    if (UploadId === undefined) {
      throw new Error(`s3 CreateMultipartUpload for ${key} returned no UploadId`);
    }
    try {
      const ranges: Array<{ partNumber: number; start: number; end: number }> = [];
      for (let start = 0, partNumber = 1; start < size; start += partSize, partNumber++) {
        ranges.push({ partNumber, start, end: Math.min(start + partSize, size) - 1 });
      }
      const parts: CompletedPart[] = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < ranges.length) {
          const range = ranges[next++];
          const out = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId,
              PartNumber: range.partNumber,
              CopySource: copySource,
              CopySourceRange: `bytes=${range.start}-${range.end}`,
            }),
          );
          parts.push({ PartNumber: range.partNumber, ETag: out.CopyPartResult?.ETag });
        }
      };
      await Promise.all(Array.from({ length: COPY_CONCURRENCY }, worker));
      parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (error) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId }))
        .catch(() => undefined);
      throw error;
    }
  }

  /** Pages of keys under `prefix`, without staging objects or keys this driver cannot address. */
  private async *listKeyPages(prefix: string): AsyncGenerator<string[]> {
    for await (const objects of this.listObjectPages(prefix, 'list')) {
      const keys = objects
        .map((object) => object.Key)
        .filter((key): key is string => key !== undefined && !key.startsWith(STAGING_PREFIX))
        .filter((key) => isValidKey(key));
      if (keys.length > 0) {
        yield keys;
      }
    }
  }

  /** Every page of a ListObjectsV2 under `prefix` ('' for the whole bucket). */
  private async *listObjectPages(
    prefix: string,
    op: string,
    maxKeys?: number,
  ): AsyncGenerator<NonNullable<ListObjectsV2CommandOutput['Contents']>> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix === '' ? undefined : prefix,
            ContinuationToken: token,
            MaxKeys: maxKeys,
          }),
        );
      } catch (error) {
        throw toStorageError(error, op, prefix);
      }
      yield page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  private async deleteBatch(keys: string[]): Promise<number> {
    if (this.deleteObjectsSupported) {
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const errors = out.Errors ?? [];
        if (errors.length > 0) {
          const first = errors[0];
          throw new Error(
            `s3 DeleteObjects failed for ${errors.length} of ${keys.length} keys ` +
              `(first: ${first.Key}: ${first.Code} ${first.Message})`,
          );
        }
        return keys.length;
      } catch (error) {
        const status = httpStatus(error);
        const name = (error as SdkError | null)?.name;
        if (status !== 501 && status !== 405 && name !== 'NotImplemented') {
          throw toStorageError(error, 'deletePrefix', keys[0]);
        }
        // Some S3-compatible servers lack the multi-object delete: fall back to one at a time.
        this.deleteObjectsSupported = false;
      }
    }
    for (const key of keys) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      } catch (error) {
        throw toStorageError(error, 'deletePrefix', key);
      }
    }
    return keys.length;
  }
}

function bodyOf(out: GetObjectCommandOutput, key: string): Readable {
  if (!(out.Body instanceof Readable)) {
    throw new Error(`s3 read ${key}: response body is not a Node.js stream`);
  }
  return out.Body;
}

/** `length` bytes of `body` after skipping `skip`; stops reading (destroys `body`) once done. */
function sliceStream(body: Readable, skip: number, length: number): Readable {
  async function* slice(): AsyncGenerator<Buffer> {
    let toSkip = skip;
    let left = length;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      let part = chunk;
      if (toSkip > 0) {
        const skipped = Math.min(toSkip, part.length);
        toSkip -= skipped;
        part = part.subarray(skipped);
      }
      if (part.length > left) {
        part = part.subarray(0, left);
      }
      if (part.length > 0) {
        left -= part.length;
        yield part;
      }
      if (left === 0) {
        return;
      }
    }
    if (left > 0) {
      throw new Error(`s3 body ended ${left} bytes short of the requested range`);
    }
  }
  return Readable.from(slice(), { objectMode: false });
}

function encodeCopySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

function httpStatus(error: unknown): number | undefined {
  return (error as SdkError | null)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as SdkError | null)?.name;
  return name === 'NotFound' || name === 'NoSuchKey' || httpStatus(error) === 404;
}

function isConnectionError(error: unknown): boolean {
  const e = error as SdkError | null;
  if (e === null || typeof e !== 'object') {
    return false;
  }
  if (e.code !== undefined && CONNECTION_ERROR_CODES.has(e.code)) {
    return true;
  }
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout') {
    return true;
  }
  // Node's happy-eyeballs connect reports one AggregateError for all addresses it tried.
  if (Array.isArray(e.errors) && e.errors.some((inner) => isConnectionError(inner))) {
    return true;
  }
  // The SDK's retry layer re-wraps a rejection that is not `instanceof Error` (e.g. a socket
  // error from another realm, as under Jest) in a plain Error, keeping the code only in the text.
  const message = (e as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    [...CONNECTION_ERROR_CODES].some((code) => new RegExp(`\\b${code}\\b`).test(message))
  );
}

function toStorageError(error: unknown, op: string, key: string): unknown {
  if (error instanceof ArtifactError || (error as SdkError | null)?.name === 'AbortError') {
    return error;
  }
  const status = httpStatus(error);
  // 501 is a server that lacks a feature, not one that is down.
  if (isConnectionError(error) || (status !== undefined && status >= 500 && status !== 501)) {
    return new ArtifactError(
      'storage_unavailable',
      `s3 ${op} ${JSON.stringify(key)}: ${describeError(error)}`,
    );
  }
  return error;
}

function describeError(error: unknown): string {
  const e = error as (SdkError & { message?: string }) | null;
  const parts = [e?.name, e?.code ?? e?.Code, e?.message].filter(
    (part): part is string => typeof part === 'string' && part !== '',
  );
  return parts.length > 0 ? [...new Set(parts)].join(': ') : String(error);
}
