import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ArtifactError } from '@app/common';

export interface HashingTransformOptions {
  expectedSize?: number;
  /** hex sha256, compared case-insensitively */
  expectedSha256?: string;
}

/**
 * Passes bytes through unchanged while counting them and computing their sha256.
 *
 * With expectations it fails the stream, so whatever consumes it never commits: too many bytes
 * fail at once (no need to store the excess), a short body or a wrong digest fail in `flush`,
 * i.e. before the readable side ends. An S3 multipart `Upload` then aborts instead of completing,
 * and the fs driver never renames its temp file into place.
 */
export class HashingTransform extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private readonly expectedSize: number | undefined;
  private readonly expectedSha256: string | undefined;
  private bytes = 0;
  private digest: string | null = null;

  constructor(options: HashingTransformOptions = {}) {
    super();
    this.expectedSize = options.expectedSize;
    this.expectedSha256 = options.expectedSha256?.toLowerCase();
  }

  /**
   * Bytes seen so far. Not named `size` or `length`: lib-storage's Upload reads those from its Body
   * as the total length and then aborts when the part count does not match.
   */
  get byteCount(): number {
    return this.bytes;
  }

  /** hex sha256 of every byte, available once the stream has been flushed */
  get sha256(): string {
    if (this.digest === null) {
      throw new Error('HashingTransform: sha256 read before the stream ended');
    }
    return this.digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      callback(
        new ArtifactError(
          'upstream_integrity',
          `size mismatch: expected ${this.expectedSize} bytes, got at least ${this.bytes}`,
          { expectedSize: this.expectedSize, actualSize: this.bytes },
        ),
      );
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const digest = this.hash.digest('hex');
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      callback(
        new ArtifactError(
          'upstream_integrity',
          `size mismatch: expected ${this.expectedSize} bytes, got ${this.bytes}`,
          { expectedSize: this.expectedSize, actualSize: this.bytes },
        ),
      );
      return;
    }
    if (this.expectedSha256 !== undefined && digest !== this.expectedSha256) {
      callback(
        new ArtifactError(
          'upstream_integrity',
          `sha256 mismatch: expected ${this.expectedSha256}, got ${digest}`,
          { expectedSha256: this.expectedSha256, actualSha256: digest },
        ),
      );
      return;
    }
    this.digest = digest;
    callback();
  }
}
