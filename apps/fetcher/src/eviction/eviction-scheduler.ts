import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { EvictionService } from '@app/eviction';

/**
 * Runs an eviction pass every `storage.evict_interval` seconds on whichever fetcher takes the
 * lease first. Without any limit a pass still collects the contents no file names any more and
 * makes older objects share theirs. A pass that fails is logged; the next one starts over.
 */
@Injectable()
export class EvictionScheduler implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(EvictionScheduler.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly eviction: EvictionService,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.tick(), this.config.eviction.intervalSeconds * 1000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.running) {
      return;
    }
    this.running = this.eviction.pass().catch((error: Error) => {
      this.logger.warn(`eviction pass failed: ${error.message}`);
    });
    await this.running;
    this.running = null;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.running;
  }
}
