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

/** Bytes of lines gathered before they are written together. */
const BUFFER_BYTES = 64 * 1024;
/** How long a line waits for others before it is written anyway. */
const FLUSH_AFTER_MS = 20;

/**
 * The gateway's access and audit lines (docs/OPERATIONS.md "Logs"), in the apps' log format.
 * Each line is encoded into a byte buffer at once, and the buffer is written when it is full or
 * 20 ms after its first line: a hit costs no write of its own, and its line's string dies young
 * (strings held for 100 ms outlived scavenges, were promoted, and the old generation's
 * collections cost 4 KiB hits a fifth of their rate). A write per turn of the event loop, as
 * before, cost a 4 KiB hit ~5 µs of CPU at 32 connections: the loop turns over every few requests.
 */
@Injectable()
export class RequestLog implements OnApplicationShutdown {
  private readonly format: LogFormat;
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private scheduled: NodeJS.Timeout | null = null;
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
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const most = line.length * 3;
    if (this.used + most > BUFFER_BYTES) {
      this.flush();
    }
    if (most > BUFFER_BYTES) {
      process.stdout.write(line);
      return;
    }
    this.used += this.buffer.write(line, this.used);
    this.scheduled ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS);
  }

  flush(): void {
    if (this.scheduled) {
      clearTimeout(this.scheduled);
      this.scheduled = null;
    }
    if (this.used > 0) {
      // A new buffer for the next lines: a write to a pipe may still hold this one.
      process.stdout.write(this.buffer.subarray(0, this.used));
      this.buffer = Buffer.allocUnsafe(BUFFER_BYTES);
      this.used = 0;
    }
  }

  onApplicationShutdown(): void {
    this.flush();
    process.removeListener('exit', this.flushOnExit);
  }
}
