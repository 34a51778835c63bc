import { Inject, Injectable } from '@nestjs/common';
import { CacheStateService } from '@app/cache';
import { DatabaseService } from '@app/db';
import { STORAGE_DRIVER, type StorageDriver } from '@app/storage';

/** 'ok', or 'failing: <why>' */
export type CheckResult = string;

export interface HealthReport {
  status: 'healthy' | 'degraded' | 'unhealthy';
  checks: { redis: CheckResult; postgres: CheckResult; storage: CheckResult };
}

const CHECK_TIMEOUT_MS = 2000;

/**
 * docs/HTTP-API.md: Redis or Postgres failing only degrades the replica (cached files are still served, so a
 * load balancer must keep it); storage failing makes it unhealthy.
 */
@Injectable()
export class HealthService {
  constructor(
    private readonly cacheState: CacheStateService,
    private readonly database: DatabaseService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  async report(): Promise<HealthReport> {
    const [redis, postgres, storage] = await Promise.all([
      check(() => this.cacheState.ping()),
      check(() => this.database.ping()),
      check(() => this.storage.check()),
    ]);
    const status =
      storage !== 'ok' ? 'unhealthy' : redis !== 'ok' || postgres !== 'ok' ? 'degraded' : 'healthy';
    return { status, checks: { redis, postgres, storage } };
  }
}

async function check(probe: () => Promise<void>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
      CHECK_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (error) {
    return `failing: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}
