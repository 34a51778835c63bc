import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { createDataSource, runMigrationsLocked } from './data-source';

const RECONNECT_INTERVAL_MS = 5000;

/**
 * Owns the Postgres connection. Start-up does not wait for Postgres: cached files must be served
 * while it is down (docs/CACHING.md), so the connection is (re)established in the background and callers
 * ask `dataSource()` and skip or queue their write when it is not there.
 */
@Injectable()
export class DatabaseService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseService.name);
  private readonly source: DataSource;
  private connecting: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.source = createDataSource(config.databaseUrl);
  }

  async onModuleInit(): Promise<void> {
    await this.connect();
  }

  /** The initialized data source, or null while Postgres is unreachable. */
  dataSource(): DataSource | null {
    return this.source.isInitialized ? this.source : null;
  }

  /** The data source for a write or a lookup off the request path; throws while Postgres is down. */
  requireSource(): DataSource {
    const source = this.dataSource();
    if (!source) {
      throw new Error('Postgres is not reachable');
    }
    return source;
  }

  /** Resolves once connected and migrated (used by tests and tools, never by the request path). */
  async ready(): Promise<DataSource> {
    await this.connect();
    const source = this.dataSource();
    if (!source) {
      throw new Error('database is not reachable');
    }
    return source;
  }

  async ping(): Promise<void> {
    const source = this.dataSource();
    if (!source) {
      this.scheduleReconnect();
      throw new Error('not connected');
    }
    await source.query('SELECT 1');
  }

  private connect(): Promise<void> {
    if (this.source.isInitialized || this.closed) {
      return Promise.resolve();
    }
    this.connecting ??= this.tryConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async tryConnect(): Promise<void> {
    try {
      await this.source.initialize();
      await runMigrationsLocked(this.source);
      this.logger.log('connected to Postgres, schema up to date');
    } catch (error) {
      this.logger.warn(
        `Postgres unavailable (${(error as Error).message}); retrying in background`,
      );
      if (this.source.isInitialized) {
        await this.source.destroy().catch(() => undefined);
      }
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.retryTimer || this.closed) {
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, RECONNECT_INTERVAL_MS);
    this.retryTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
    }
    if (this.source.isInitialized) {
      await this.source.destroy();
    }
  }
}
