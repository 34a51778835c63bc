import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { PathLockService } from '@app/cache';
import { ArtifactError, contentTypeFor, isArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type LocalRemoteConfig } from '@app/config';
import { DeferredWrites, HitRecorder, HostedRecordsService } from '@app/db';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { cleanPath } from '../http/path-guard';
import { artifactHeaders } from '../serving/artifact-headers';
import { artifactKey, isLocal, resolveRemote } from '../serving/remote-resolver';
import type { ServePlan, ServeRequest } from '../serving/serve-plan';
import { StoredFileService } from '../serving/stored-file.service';
import { type Listing, childrenOf, renderHtml } from './directory-listing';
import type { UploadBody } from './upload-body';

export interface UploadResult {
  remote: string;
  path: string;
  size: number;
  sha256: string;
}

/** Listings stop here; a hosted directory with more entries is better browsed by prefix. */
const MAX_LISTED_FILES = 10_000;

/** Hosted (`local`) remotes: files users upload, served like cached ones (docs/HTTP-API.md). */
@Injectable()
export class HostedService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly stored: StoredFileService,
    private readonly locks: PathLockService,
    private readonly records: HostedRecordsService,
    private readonly deferred: DeferredWrites,
    private readonly hits: HitRecorder,
  ) {}

  /** GET/HEAD of a hosted path: the file, or a listing when the path ends with '/'. */
  async serve(
    remote: LocalRemoteConfig,
    rawPath: string,
    request: ServeRequest,
  ): Promise<ServePlan> {
    if (rawPath === '' || rawPath.endsWith('/')) {
      return this.list(
        remote,
        rawPath === '' ? '' : cleanPath(rawPath.slice(0, -1)) + '/',
        request,
      );
    }
    const path = cleanPath(rawPath);
    const plan = await this.stored.plan(
      artifactKey(remote.name, path),
      path,
      artifactHeaders,
      'local',
      request,
    );
    if (!plan) {
      throw new ArtifactError('not_found', `${remote.name}/${path} does not exist`);
    }
    this.hits.record('hosted_files', remote.name, path);
    return plan;
  }

  async put(
    remoteName: string,
    rawPath: string,
    body: () => Promise<UploadBody>,
    expectedSha256: string | undefined,
  ): Promise<UploadResult> {
    const remote = this.hostedRemote(remoteName, 'PUT');
    const path = cleanPath(rawPath);
    if (path.endsWith('/')) {
      throw new ArtifactError('bad_path', 'a file name is needed after the last "/"');
    }
    if (expectedSha256 !== undefined && !/^[a-f0-9]{64}$/i.test(expectedSha256)) {
      throw new ArtifactError('bad_request', 'X-Checksum-Sha256 must be 64 hex digits');
    }
    const key = artifactKey(remote.name, path);
    let lock;
    try {
      lock = await this.locks.tryAcquire(`hosted:${remote.name}:${path}`);
    } catch {
      throw new ArtifactError(
        'service_unavailable',
        'Redis is unavailable; uploads need it for locking',
        {
          retryAfter: 5,
        },
      );
    }
    if (!lock) {
      throw new ArtifactError('conflict', `an upload of ${remote.name}/${path} is in progress`);
    }
    try {
      if (!remote.allowOverwrite && (await this.storage.head(key))) {
        throw new ArtifactError(
          'conflict',
          `${remote.name}/${path} already exists and the remote does not allow overwrite`,
        );
      }
      const upload = await body();
      const contentType = contentTypeFor(path, upload.contentType);
      let written;
      try {
        written = await this.storage.write(key, upload.stream, {
          contentType,
          expectedSha256: expectedSha256?.toLowerCase(),
        });
      } catch (error) {
        if (isArtifactError(error, 'upstream_integrity')) {
          throw new ArtifactError(
            'checksum_mismatch',
            `X-Checksum-Sha256 does not match the upload (got ${String(error.detail?.actualSha256)}); nothing was stored`,
          );
        }
        throw error;
      }
      if (upload.truncated()) {
        await this.storage.delete(key);
        throw new ArtifactError('bad_request', 'the upload was cut short');
      }
      const record = {
        remote: remote.name,
        path,
        storageKey: key,
        size: written.size,
        sha256: written.sha256,
        contentType,
      };
      this.deferred.submit(recordId(remote.name, path), () => this.records.upsert(record));
      return { remote: remote.name, path, size: written.size, sha256: written.sha256 };
    } finally {
      await lock.release();
    }
  }

  async delete(remoteName: string, rawPath: string): Promise<void> {
    const remote = this.hostedRemote(remoteName, 'DELETE');
    const path = cleanPath(rawPath);
    const deleted = await this.storage.delete(artifactKey(remote.name, path));
    if (!deleted) {
      throw new ArtifactError('not_found', `${remote.name}/${path} does not exist`);
    }
    this.deferred.submit(recordId(remote.name, path), () => this.records.delete(remote.name, path));
  }

  private hostedRemote(name: string, method: string): LocalRemoteConfig {
    const remote = resolveRemote(this.config, name);
    if (!isLocal(remote)) {
      throw new ArtifactError(
        'wrong_package',
        `${method} is for hosted remotes; ${remote.name} is a ${remote.package} remote`,
      );
    }
    return remote;
  }

  private async list(
    remote: LocalRemoteConfig,
    dir: string,
    request: ServeRequest,
  ): Promise<ServePlan> {
    const prefix = `${remote.name}/${dir}`;
    const files = [];
    for await (const info of this.storage.list(prefix)) {
      files.push({
        path: info.key.slice(remote.name.length + 1),
        size: info.size,
        sha256: info.sha256,
        storedAt: info.storedAt,
      });
      if (files.length >= MAX_LISTED_FILES) {
        break;
      }
    }
    if (files.length === 0 && dir !== '') {
      throw new ArtifactError('not_found', `${remote.name}/${dir} is empty or does not exist`);
    }
    const listing: Listing = { remote: remote.name, path: dir, entries: childrenOf(dir, files) };
    const html = (request.accept ?? '').includes('text/html');
    const text = html ? renderHtml(listing) : JSON.stringify(listing);
    const headers = {
      'content-type': html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'x-artifact-source': 'local',
      'cache-control': 'no-cache',
    };
    return {
      status: 200,
      source: 'local',
      headers,
      body: request.method === 'HEAD' ? null : Readable.from([text]),
    };
  }
}

/** One id per hosted file: a delete supersedes the upload before it, whichever Postgres sees. */
function recordId(remote: string, path: string): string {
  return `hosted_files\0${remote}\0${path}`;
}
