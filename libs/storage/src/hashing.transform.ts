import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ArtifactError } from '@app/common';

export interface HashingTransformOptions {
  expectedSize?: number;
  /** hex sha256, compared case-insensitively */
  expectedSha256?: string;
}

/** The failure of bytes whose sha256 is not the one expected. */
export function digestMismatch(expectedSha256: string, actualSha256: string): ArtifactError {
  return new ArtifactError(
    'upstream_integrity',
    `sha256 mismatch: expected ${expectedSha256}, got ${actualSha256}`,
    { expectedSha256, actualSha256 },
  );
}

function sizeMismatch(expectedSize: number, actualSize: number, atLeast: boolean): ArtifactError {
  return new ArtifactError(
    'upstream_integrity',
    `size mismatch: expected ${expectedSize} bytes, got ${atLeast ? 'at least ' : ''}${actualSize}`,
    { expectedSize, actualSize },
  );
}

/**
 * Passes bytes through unchanged while counting them. With an expected size it fails the stream:
 * too many bytes at once (no need to store the excess), too few in `flush`, i.e. before the
 * readable side ends, so whatever consumes it never commits.
 */
export class SizeCheck extends Transform {
  private readonly expectedSize: number | undefined;
  private bytes = 0;

  constructor(options: { expectedSize?: number } = {}) {
    super();
    this.expectedSize = options.expectedSize;
  }

  /**
   * Bytes seen so far. Not named `size` or `length`: lib-storage's Upload reads those from its Body
   * as the total length and then aborts when the part count does not match.
   */
  get byteCount(): number {
    return this.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      callback(sizeMismatch(this.expectedSize, this.bytes, true));
      return;
    }
    this.seen(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      callback(sizeMismatch(this.expectedSize, this.bytes, false));
      return;
    }
    let failure: Error | null = null;
    try {
      this.ended();
    } catch (error) {
      failure = error as Error;
    }
    callback(failure);
  }

  /** Each chunk, once counted (HashingTransform hashes it). */
  protected seen(_chunk: Buffer): void {}

  /** At the end, the size being right; throws to fail the stream. */
  protected ended(): void {}
}

/**
 * A SizeCheck that also computes the bytes' sha256 and, with an expected digest, fails in `flush`
 * when it differs. An S3 multipart `Upload` then aborts instead of completing, and the fs driver
 * never renames its temp file into place.
 */
export class HashingTransform extends SizeCheck {
  private readonly hash: Hash = createHash('sha256');
  private readonly expectedSha256: string | undefined;
  private digest: string | null = null;

  constructor(options: HashingTransformOptions = {}) {
    super(options);
    this.expectedSha256 = options.expectedSha256?.toLowerCase();
  }

  /** hex sha256 of every byte, available once the stream has been flushed */
  get sha256(): string {
    if (this.digest === null) {
      throw new Error('HashingTransform: sha256 read before the stream ended');
    }
    return this.digest;
  }

  protected override seen(chunk: Buffer): void {
    this.hash.update(chunk);
  }

  protected override ended(): void {
    const digest = this.hash.digest('hex');
    if (this.expectedSha256 !== undefined && digest !== this.expectedSha256) {
      throw digestMismatch(this.expectedSha256, digest);
    }
    this.digest = digest;
  }
}
