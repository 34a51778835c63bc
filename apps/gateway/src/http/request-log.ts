import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type LogFormat, formatLogLine, isLogged, resolveLogFormat } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';

/** What one answered request's access line says. */
export interface AccessEntry {
  requestId: string;
  method: string;
  /** the path asked for, without its query */
  path: string;
  remote: string;
  route: string;
  /** X-Artifact-Source (cache, remote, stale, local) or `-` */
  source: string;
  status: number;
  /** the body's length as declared (Content-Length); null when it was not */
  bytes: number | null;
  /** false when the client went away before the last byte */
  completed: boolean;
  seconds: number;
}

/** What a request that changes something (upload, delete, flush, purge, admin action) did. */
export interface AuditEntry {
  requestId: string;
  method: string;
  path: string;
  status: number;
  /** tokenFingerprint of the credentials presented; null: none */
  who: string | null;
}

/** Lines gathered at most before they are written together (else at the loop turn's end). */
const FLUSH_AT_BYTES = 64 * 1024;

/**
 * The gateway's access and audit lines (docs/OPERATIONS.md "Logs"), in the apps' log format.
 * The lines of one turn of the event loop are written together, so a hit costs no write of its
 * own; and no later, so that they die young: held for 100 ms they outlived scavenges, were
 * promoted, and the old generation's collections cost 4 KiB hits a fifth of their rate.
 */
@Injectable()
export class RequestLog implements OnApplicationShutdown {
  private readonly format: LogFormat;
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled: NodeJS.Immediate | null = null;
  private lastMs = 0;
  private lastIso = '';
  private readonly flushOnExit = () => this.flush();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.format = resolveLogFormat(config.log.format);
    process.once('exit', this.flushOnExit);
  }

  access(entry: AccessEntry): void {
    if (!this.config.log.access || !isLogged('info', this.config.log.level)) {
      return;
    }
    this.add(this.format === 'json' ? this.accessJson(entry) : this.accessText(entry));
  }

  /**
   * The same line formatLogLine writes, put together by hand: it is written for every hit, and
   * building an object to stringify cost the 4 KiB hit a measurable share of its time.
   */
  private accessJson(entry: AccessEntry): string {
    const path = JSON.stringify(entry.path);
    const msg = JSON.stringify(`${entry.method} ${entry.path} ${entry.status}`);
    return (
      `{"time":"${this.now()}","level":"info","app":"gateway","context":"access","msg":${msg},` +
      `"request_id":${JSON.stringify(entry.requestId)},"method":"${entry.method}","path":${path},` +
      `"remote":${JSON.stringify(entry.remote)},"route":"${entry.route}","source":"${entry.source}",` +
      `"status":${entry.status},"bytes":${entry.bytes ?? 'null'},"completed":${entry.completed},` +
      `"ms":${Math.round(entry.seconds * 1e6) / 1000}}\n`
    );
  }

  private accessText(entry: AccessEntry): string {
    return formatLogLine(
      {
        time: new Date(),
        level: 'info',
        app: 'gateway',
        context: 'access',
        msg: `${entry.method} ${entry.path} ${entry.status}`,
        fields: {
          request_id: entry.requestId,
          remote: entry.remote,
          route: entry.route,
          source: entry.source,
          bytes: entry.bytes,
          completed: entry.completed,
          ms: Math.round(entry.seconds * 1e6) / 1000,
        },
      },
      'text',
    );
  }

  /** The time as ISO 8601, made once per millisecond however many lines share it. */
  private now(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }

  audit(entry: AuditEntry): void {
    this.add(
      formatLogLine(
        {
          time: new Date(),
          level: 'info',
          app: 'gateway',
          context: 'audit',
          msg: `${entry.method} ${entry.path} ${entry.status} by ${entry.who ?? 'anonymous'}`,
          fields: {
            request_id: entry.requestId,
            method: entry.method,
            path: entry.path,
            status: entry.status,
            who: entry.who,
          },
        },
        this.format,
      ),
    );
    this.flush();
  }

  private add(line: string): void {
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= FLUSH_AT_BYTES) {
      this.flush();
    } else {
      this.scheduled ??= setImmediate(() => this.flush());
    }
  }

  flush(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.pending.length > 0) {
      process.stdout.write(this.pending.join(''));
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  onApplicationShutdown(): void {
    this.flush();
    process.removeListener('exit', this.flushOnExit);
  }
}
