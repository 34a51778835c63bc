import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { SpoolFile } from './spool-file';

export interface InflightAttempt {
  id: string;
  spool: SpoolFile;
  /** what waiting gateways open to follow this attempt's bytes */
  streamUrl: string;
}

/**
 * The fetches this fetcher is running, by attempt id (random per attempt, so a gateway holding the
 * progress of a dead attempt gets a 404 rather than someone else's bytes).
 */
@Injectable()
export class InflightRegistry implements OnModuleInit {
  private readonly logger = new Logger(InflightRegistry.name);
  private readonly attempts = new Map<string, InflightAttempt>();
  private readonly spoolDir: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    // Per user and port: several fetchers (and users) may share one machine's temp dir.
    const user = process.getuid?.() ?? 'user';
    this.spoolDir = join(tmpdir(), `artifactcache-${user}`, `spool-${config.fetcherPort}`);
  }

  async onModuleInit(): Promise<void> {
    // Spool files left by a killed process on this port are garbage: their jobs were retried.
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    const leftovers = await readdir(this.spoolDir);
    await Promise.all(leftovers.map((name) => rm(join(this.spoolDir, name), { force: true })));
    if (leftovers.length > 0) {
      this.logger.log(`removed ${leftovers.length} spool files of an earlier run`);
    }
  }

  async begin(): Promise<InflightAttempt> {
    const id = randomUUID();
    const spool = await SpoolFile.create(join(this.spoolDir, id));
    const attempt = {
      id,
      spool,
      streamUrl: `${this.config.fetcherAdvertiseUrl}/internal/inflight/${id}`,
    };
    this.attempts.set(id, attempt);
    return attempt;
  }

  get(id: string): InflightAttempt | undefined {
    return this.attempts.get(id);
  }

  /** New readers get a 404 from here on; readers already streaming finish from their descriptor. */
  async end(attempt: InflightAttempt): Promise<void> {
    this.attempts.delete(attempt.id);
    await attempt.spool.dispose();
  }
}
