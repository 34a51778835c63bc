import { posix } from 'node:path';
import { contentTypeFor } from '@app/common';
import type { ArtifactSource } from '@app/metrics';
import type { ObjectInfo } from '@app/storage';
import type { ResolvedRange } from '../http/byte-range';

export interface ArtifactDescription {
  path: string;
  size: number | null;
  sha256: string | null;
  contentType: string;
  lastModified: Date | null;
}

/** What a stored object tells about the artifact at `path`: the same for storage and memory hits. */
export function describeObject(info: ObjectInfo, path: string): ArtifactDescription {
  return {
    path,
    size: info.size,
    sha256: info.sha256,
    contentType: info.contentType ?? contentTypeFor(path),
    lastModified: info.lastModified ?? info.storedAt,
  };
}

/** Builds the response headers of a route from what is known about the artifact. */
export type HeaderBuilder = (
  artifact: ArtifactDescription,
  source: ArtifactSource,
  range: ResolvedRange | null,
) => Record<string, string>;

/**
 * docs/HTTP-API.md headers of /api/v1/remote responses: X-Artifact-Size is always the whole file's size
 * (on a 206 too); ETag and X-Checksum-Sha256 only when the digest is known.
 */
export function artifactHeaders(
  artifact: ArtifactDescription,
  source: ArtifactSource,
  range: ResolvedRange | null = null,
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': artifact.contentType,
    'content-disposition': contentDisposition(posix.basename(artifact.path)),
    'x-artifact-source': source,
    'accept-ranges': 'bytes',
  };
  if (artifact.size !== null) {
    headers['x-artifact-size'] = String(artifact.size);
    headers['content-length'] = String(range ? range.end - range.start + 1 : artifact.size);
  }
  if (range && artifact.size !== null) {
    headers['content-range'] = `bytes ${range.start}-${range.end}/${artifact.size}`;
  }
  if (artifact.sha256) {
    headers.etag = `"${artifact.sha256}"`;
    headers['x-checksum-sha256'] = artifact.sha256;
  }
  if (artifact.lastModified) {
    headers['last-modified'] = artifact.lastModified.toUTCString();
  }
  return headers;
}

/** RFC 6266: a quoted ASCII fallback plus filename* for anything else. */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  if (ascii === filename) {
    return `attachment; filename="${filename}"`;
  }
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** RFC 9110 §13.1: If-None-Match wins over If-Modified-Since. */
export function notModified(
  etag: string | null,
  lastModified: Date | null,
  ifNoneMatch: string | undefined,
  ifModifiedSince: string | undefined,
): boolean {
  if (ifNoneMatch !== undefined) {
    if (etag === null) {
      return false;
    }
    return ifNoneMatch
      .split(',')
      .map((tag) => tag.trim().replace(/^W\//, ''))
      .some((tag) => tag === '*' || tag === etag);
  }
  if (ifModifiedSince !== undefined && lastModified) {
    const since = Date.parse(ifModifiedSince);
    return !Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) * 1000 <= since;
  }
  return false;
}

/**
 * RFC 9110 §13.1.5: a Range is honoured only when If-Range (if present) names the representation
 * we hold: the same strong entity tag, or exactly its Last-Modified date. Otherwise a client
 * resuming a file that has since changed would glue new bytes to its old prefix.
 */
export function ifRangeMatches(
  ifRange: string | undefined,
  etag: string | null,
  lastModified: Date | null,
): boolean {
  if (ifRange === undefined) {
    return true;
  }
  const validator = ifRange.trim();
  if (validator.startsWith('W/')) {
    return false;
  }
  if (validator.startsWith('"')) {
    return etag !== null && validator === etag;
  }
  const date = Date.parse(validator);
  return (
    lastModified !== null &&
    !Number.isNaN(date) &&
    Math.floor(lastModified.getTime() / 1000) * 1000 === date
  );
}
