import { Inject, Injectable } from '@nestjs/common';
import type { ArtifactSource } from '@app/metrics';
import { type ObjectInfo, STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { resolveRange } from '../http/byte-range';
import {
  type HeaderBuilder,
  describeObject,
  ifRangeMatches,
  notModified,
} from './artifact-headers';
import type { ServePlan, ServeRequest } from './serve-plan';

/**
 * Answers a request from storage: the hit path. A plain GET is one storage read (metadata and
 * bytes together); only Range and conditional requests look at the metadata first.
 */
@Injectable()
export class StoredFileService {
  constructor(@Inject(STORAGE_DRIVER) private readonly storage: StorageDriver) {}

  /** null when nothing is stored under `key`. */
  async plan(
    key: string,
    path: string,
    headersFor: HeaderBuilder,
    source: ArtifactSource,
    request: ServeRequest,
    known?: ObjectInfo,
  ): Promise<ServePlan | null> {
    const conditional = request.ifNoneMatch !== undefined || request.ifModifiedSince !== undefined;
    if (request.method === 'GET' && !request.range && !conditional && !known) {
      const read = await this.storage.read(key, { signal: request.signal });
      if (!read) {
        return null;
      }
      return {
        status: 200,
        source,
        headers: headersFor(describeObject(read.info, path), source, null),
        body: read.body,
        object: read.info,
      };
    }

    const info = known ?? (await this.storage.head(key));
    if (!info) {
      return null;
    }
    const description = describeObject(info, path);
    const whole = headersFor(description, source, null);
    const { lastModified } = description;
    if (
      notModified(whole.etag ?? null, lastModified, request.ifNoneMatch, request.ifModifiedSince)
    ) {
      delete whole['content-length'];
      return { status: 304, source, headers: whole, body: null };
    }
    const range = ifRangeMatches(request.ifRange, whole.etag ?? null, lastModified)
      ? resolveRange(request.range, info.size)
      : null;
    const headers = headersFor(description, source, range);
    const status = range ? 206 : 200;
    if (request.method === 'HEAD') {
      return { status, source, headers, body: null };
    }
    const read = await this.storage.read(key, {
      range: range ?? undefined,
      signal: request.signal,
    });
    if (!read) {
      return null;
    }
    return { status, source, headers, body: read.body };
  }
}
