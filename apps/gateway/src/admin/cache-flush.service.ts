import { Inject, Injectable } from '@nestjs/common';
import { CacheStateService } from '@app/cache';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { ArtifactRecordsService } from '@app/db';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';
import { MemoryHits } from '../serving/memory-hits.service';
import { resolveRemote } from '../serving/remote-resolver';

export interface FlushResult {
  flushed: { redis_keys: number; s3_objects: number; records: number };
  remote: string | null;
}

/**
 * PUT /cache/flush: forgets what was pulled through (TTL markers, validators, negative cache,
 * stored objects, records) for one proxy remote or all of them. Hosted files are not a cache and
 * are never flushed.
 */
@Injectable()
export class CacheFlushService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly cacheState: CacheStateService,
    private readonly records: ArtifactRecordsService,
    private readonly memory: MemoryHits,
  ) {}

  async flush(remoteName: string | null): Promise<FlushResult> {
    const remotes =
      remoteName === null
        ? Object.values(this.config.remotes).filter((remote) => remote.package !== 'local')
        : [resolveRemote(this.config, remoteName)];
    if (remotes.some((remote) => remote.package === 'local')) {
      throw new ArtifactError(
        'wrong_package',
        `${remoteName} is a hosted remote: its files are not a cache`,
      );
    }
    let redisKeys = 0;
    let objects = 0;
    let records = 0;
    for (const remote of remotes) {
      redisKeys += await this.cacheState.flush(remote.name);
      try {
        objects += await this.storage.deletePrefix(`${remote.name}/`);
      } finally {
        // Even when storage failed part way: what it did remove must not be served from memory.
        await this.memory.dropped(`${remote.name}/`);
      }
      records += await this.records.deleteRemote(remote.name).catch(() => 0);
    }
    return { flushed: { redis_keys: redisKeys, s3_objects: objects, records }, remote: remoteName };
  }
}
