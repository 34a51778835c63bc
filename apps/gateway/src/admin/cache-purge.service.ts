import { Inject, Injectable, Logger } from '@nestjs/common';
import { CacheStateService } from '@app/cache';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { ArtifactRecordsService } from '@app/db';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { cleanDirectoryPath } from '../http/path-guard';
import { MemoryHits } from '../serving/memory-hits.service';
import { artifactKey, resolveRemote } from '../serving/remote-resolver';

export interface PurgeResult {
  purged: { objects: number; records: number; redis_keys: number };
  remote: string;
  path: string;
}

/**
 * Removes one cached path of a proxy remote, or every path under a prefix (a path ending in
 * `/`): its stored objects, records and Redis state, and every gateway's in-memory copies. The
 * next request fetches it again. Docker blobs, shared by the images of a remote, are not under
 * any image's prefix and stay.
 */
@Injectable()
export class CachePurgeService {
  private readonly logger = new Logger(CachePurgeService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly cacheState: CacheStateService,
    private readonly records: ArtifactRecordsService,
    private readonly memory: MemoryHits,
  ) {}

  async purge(remoteName: string, rawPath: string, requestId: string): Promise<PurgeResult> {
    const remote = resolveRemote(this.config, remoteName);
    if (remote.package === 'local') {
      throw new ArtifactError(
        'wrong_package',
        `${remote.name} is a hosted remote: delete its files with DELETE /api/v1/remote/${remote.name}/<path>`,
      );
    }
    const path = cleanDirectoryPath(rawPath);
    if (path === '') {
      throw new ArtifactError(
        'bad_path',
        `name a path or a prefix ending in "/"; all of ${remote.name}: PUT /cache/flush?remote=${remote.name}`,
      );
    }
    const prefix = path.endsWith('/');
    const key = artifactKey(remote.name, path);
    const objects = prefix
      ? await this.storage.deletePrefix(key)
      : Number(await this.storage.delete(key));
    const [records, redisKeys] = await Promise.all([
      this.records.deleteStored(remote.name, key, prefix).catch((error: Error) => {
        // The record without its object is harmless: eviction skips nothing it should not.
        this.logger.warn(`purge of ${key}: records not deleted: ${error.message}`);
        return 0;
      }),
      this.cacheState.forgetPaths(remote.name, path, prefix),
    ]);
    await this.memory.dropped(key);
    this.logger.log(
      `purged ${key}${prefix ? '*' : ''} [${requestId}]: ${objects} objects, ${records} records, ${redisKeys} Redis keys`,
    );
    return { purged: { objects, records, redis_keys: redisKeys }, remote: remote.name, path };
  }
}
