import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { SpoolFile } from './spool-file';
import { SpoolHashers } from './spool-hasher';

/** Names the pid of the fetcher that owns a spool directory. */
const OWNER_FILE = '.owner';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
export class InflightRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(InflightRegistry.name);
  private readonly attempts = new Map<string, InflightAttempt>();
  private readonly hashers = new SpoolHashers();
  private readonly spoolRoot: string;
  private readonly spoolDir: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    // Per user and port: several fetchers (and users) may share one machine's temp dir.
    const user = process.getuid?.() ?? 'user';
    this.spoolRoot = join(tmpdir(), `artifactcache-${user}`);
    this.spoolDir = join(this.spoolRoot, `spool-${config.fetcherPort}`);
  }

  async onModuleInit(): Promise<void> {
    // Spool files left by a killed process on this port are garbage: their jobs were retried.
    await mkdir(this.spoolDir, { recursive: true, mode: 0o700 });
    const leftovers = (await readdir(this.spoolDir)).filter((name) => name !== OWNER_FILE);
    await Promise.all(leftovers.map((name) => rm(join(this.spoolDir, name), { force: true })));
    if (leftovers.length > 0) {
      this.logger.log(`removed ${leftovers.length} spool files of an earlier run`);
    }
    await writeFile(join(this.spoolDir, OWNER_FILE), String(process.pid));
  }

  /**
   * Removes the spool directories of fetchers on this machine that died and never came back on
   * their port (a fetcher cleans its own directory when it starts). Returns the files removed.
   */
  async sweepDeadSpools(olderThan: Date): Promise<number> {
    let removed = 0;
    const names = await readdir(this.spoolRoot).catch(() => [] as string[]);
    for (const name of names) {
      const dir = join(this.spoolRoot, name);
      if (!name.startsWith('spool-') || dir === this.spoolDir) {
        continue;
      }
      const owner = Number(await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => ''));
      const abandoned = owner > 0 ? !processAlive(owner) : (await stat(dir)).mtime < olderThan;
      if (abandoned) {
        const files = (await readdir(dir).catch(() => [] as string[])).filter(
          (file) => file !== OWNER_FILE,
        );
        await rm(dir, { recursive: true, force: true });
        removed += files.length;
      }
    }
    return removed;
  }

  async begin(): Promise<InflightAttempt> {
    const id = randomUUID();
    const spool = await SpoolFile.create(join(this.spoolDir, id), this.hashers);
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

  async onApplicationShutdown(): Promise<void> {
    await this.hashers.close();
  }
}
