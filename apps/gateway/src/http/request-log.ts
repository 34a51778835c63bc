import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type LogFormat, formatLogLine, isLogged, resolveLogFormat } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';

/** What the access lines of one kind of answer (one URL's hits, say) have in common. */
export interface AccessKind {
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
}

/** What one answered request's access line says. */
export interface AccessEntry extends AccessKind {
  requestId: string;
  /** false when the client went away before the last byte */
  completed: boolean;
  seconds: number;
}

/**
 * An access line's text but for its time, request id, completion and duration, made once by
 * RequestLog.partsOf for a caller that writes many lines of one kind (the hit route, per URL).
 */
export interface AccessParts {
  readonly kind: AccessKind;
  /** from the time to the request id */
  readonly afterTime: string;
  /** from the request id to `completed` */
  readonly afterId: string;
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
    this.accessAs(this.partsOf(entry), entry.requestId, entry.completed, entry.seconds);
  }

  /**
   * An access line from parts made before: for every hit, the line is put together from its
   * parts and the four values that change (a line built whole, with its JSON escapes, cost a 4 KiB
   * hit ~2 µs of CPU at 32 connections). The same text formatLogLine writes (request-log.spec.ts).
   */
  accessAs(parts: AccessParts, requestId: string, completed: boolean, seconds: number): void {
    if (!this.config.log.access || !isLogged('info', this.config.log.level)) {
      return;
    }
    const ms = Math.round(seconds * 1e6) / 1000;
    this.add(
      this.format === 'json'
        ? `{"time":"${this.now()}${parts.afterTime}${JSON.stringify(requestId)}${parts.afterId}${completed},"ms":${ms}}\n`
        : `${this.now()}${parts.afterTime}${requestId}${parts.afterId}${completed} ms=${ms}\n`,
    );
  }

  partsOf(kind: AccessKind): AccessParts {
    const { method, path, remote, route, source, status, bytes } = kind;
    const msg = `${method} ${path} ${status}`;
    if (this.format === 'json') {
      return {
        kind,
        afterTime: `","level":"info","app":"gateway","context":"access","msg":${JSON.stringify(msg)},"request_id":`,
        afterId:
          `,"method":${JSON.stringify(method)},"path":${JSON.stringify(path)},"remote":${JSON.stringify(remote)},` +
          `"route":${JSON.stringify(route)},"source":${JSON.stringify(source)},"status":${status},` +
          `"bytes":${bytes ?? 'null'},"completed":`,
      };
    }
    return {
      kind,
      afterTime: ` INFO  gateway [access] ${msg} request_id=`,
      afterId: ` remote=${remote} route=${route} source=${source} bytes=${String(bytes)} completed=`,
    };
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
