import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import { type OpenCircuit, REDIS, circuitOpenKey, offlineKey } from '@app/cache';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig } from '@app/config';
import { MetricsService } from '@app/metrics';
import { resolveRemote } from './remote-resolver';

/** How often every gateway reads the admins' switches from Redis. */
const REFRESH_MS = 1000;

/** Why a remote serves only what is cached: the remotes file, an admin's switch, its circuit breaker. */
export type OfflineCause = 'config' | 'admin' | 'circuit';

export interface RemoteStateView {
  remote: string;
  package: string;
  state: 'online' | 'offline' | 'circuit_open';
  offline_by: OfflineCause | null;
  /** when an admin switched it offline, or its circuit opened */
  since: string | null;
}

/**
 * Whether each proxy remote asks its upstream: `offline: true` in the remotes file, or an admin's
 * run-time switch kept in Redis and read by every gateway every second. Only misses and
 * revalidations ask (the hit path never does); a Redis failure keeps the last state read.
 */
@Injectable()
export class RemoteStates implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RemoteStates.name);
  private readonly switched = new Map<string, string>();
  private readonly tripped = new Map<string, OpenCircuit>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.publishMetric();
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
  }

  isOffline(remote: ProxyRemoteConfig): boolean {
    return this.causeOf(remote) !== null;
  }

  causeOf(remote: ProxyRemoteConfig): OfflineCause | null {
    if (remote.offline) {
      return 'config';
    }
    if (this.switched.has(remote.name)) {
      return 'admin';
    }
    return this.tripped.has(remote.name) ? 'circuit' : null;
  }

  /** Seconds until an open circuit lets a request through again (at least 1); null when closed. */
  secondsUntilRetry(remote: ProxyRemoteConfig, now = Date.now()): number | null {
    const circuit = this.tripped.get(remote.name);
    return circuit ? Math.max(1, Math.ceil((Date.parse(circuit.until) - now) / 1000)) : null;
  }

  list(): RemoteStateView[] {
    return this.proxies().map((remote) => {
      const cause = this.causeOf(remote);
      return {
        remote: remote.name,
        package: remote.package,
        state: cause === null ? 'online' : cause === 'circuit' ? 'circuit_open' : 'offline',
        offline_by: cause,
        since: this.switched.get(remote.name) ?? this.tripped.get(remote.name)?.since ?? null,
      };
    });
  }

  /** Switches a remote offline or back, for every gateway (within a second). */
  async switchOffline(name: string, offline: boolean): Promise<RemoteStateView> {
    const remote = resolveRemote(this.config, name);
    if (remote.package === 'local') {
      throw new ArtifactError('wrong_package', `${name} is a hosted remote: it has no upstream`);
    }
    try {
      if (offline) {
        const since = new Date().toISOString();
        await this.redis.set(offlineKey(name), since, 'NX');
        this.switched.set(name, (await this.redis.get(offlineKey(name))) ?? since);
      } else {
        await this.redis.del(offlineKey(name));
        this.switched.delete(name);
      }
    } catch (error) {
      throw new ArtifactError('service_unavailable', `Redis: ${(error as Error).message}`, {
        retryAfter: 5,
      });
    }
    this.logger.log(`${name} switched ${offline ? 'offline' : 'online'} by an admin`);
    this.publishMetric();
    return this.list().find((view) => view.remote === name) as RemoteStateView;
  }

  private async refresh(): Promise<void> {
    const names = this.proxies().map((remote) => remote.name);
    if (names.length === 0) {
      return;
    }
    let values: Array<string | null>;
    try {
      values = await this.redis.mget(...names.map(offlineKey), ...names.map(circuitOpenKey));
    } catch {
      return;
    }
    names.forEach((name, i) => {
      const since = values[i];
      const circuit = values[names.length + i];
      if (since === null) {
        this.switched.delete(name);
      } else {
        this.switched.set(name, since);
      }
      if (circuit === null) {
        this.tripped.delete(name);
      } else {
        this.tripped.set(name, JSON.parse(circuit) as OpenCircuit);
      }
    });
    this.publishMetric();
  }

  private publishMetric(): void {
    for (const remote of this.proxies()) {
      this.metrics.remoteState(remote.name, !this.isOffline(remote));
    }
  }

  private proxies(): ProxyRemoteConfig[] {
    return Object.values(this.config.remotes).filter(
      (remote): remote is ProxyRemoteConfig => remote.package !== 'local',
    );
  }
}
