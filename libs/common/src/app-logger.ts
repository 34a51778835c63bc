import type { LoggerService } from '@nestjs/common';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';

const SEVERITY: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** One log line before it is written: the fields every line has, and any of its own. */
export interface LogEntry {
  time: Date;
  level: LogLevel;
  app: string;
  /** where it comes from: a service's name, `access`, `audit` */
  context: string;
  msg: string;
  /** more fields (an access line's status, bytes, ...), written after the others */
  fields?: Record<string, string | number | boolean | null>;
}

/**
 * A line as written: JSON has the fields in a fixed order (time in UTC, ISO 8601); text is for a
 * terminal, one line, the extra fields as key=value after the message.
 */
export function formatLogLine(entry: LogEntry, format: LogFormat): string {
  if (format === 'json') {
    return `${JSON.stringify({
      time: entry.time.toISOString(),
      level: entry.level,
      app: entry.app,
      context: entry.context,
      msg: entry.msg,
      ...entry.fields,
    })}\n`;
  }
  const extra = Object.entries(entry.fields ?? {})
    .map(([key, value]) => ` ${key}=${String(value)}`)
    .join('');
  const level = entry.level.toUpperCase().padEnd(5);
  return `${entry.time.toISOString()} ${level} ${entry.app} [${entry.context}] ${entry.msg}${extra}\n`;
}

/** Whether a line of `level` is written when the configured level is `threshold`. */
export function isLogged(level: LogLevel, threshold: LogLevel): boolean {
  return SEVERITY[level] >= SEVERITY[threshold];
}

/** `auto` is text on a terminal and JSON everywhere else (files, pipes, a log collector). */
export function resolveLogFormat(
  format: LogFormat | 'auto',
  out: { isTTY?: boolean } = process.stdout,
): LogFormat {
  return format === 'auto' ? (out.isTTY ? 'text' : 'json') : format;
}

/** Nest's start-up chatter (every route mapped, every module loaded): debug, not info. */
const START_UP_CONTEXTS = new Set(['RouterExplorer', 'RoutesResolver', 'InstanceLoader']);

export interface AppLoggerOptions {
  app: string;
  level: LogLevel;
  /** `auto`: text when the output is a terminal, else JSON */
  format: LogFormat | 'auto';
  out?: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * The apps' one logger (Nest's and ours): every line names the app, with an ISO timestamp in
 * UTC and no colour codes. Lines go to stdout, written in order.
 */
export class AppLogger implements LoggerService {
  readonly format: LogFormat;
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };

  constructor(private readonly options: AppLoggerOptions) {
    this.out = options.out ?? process.stdout;
    this.format = resolveLogFormat(options.format, this.out);
  }

  log(message: unknown, ...rest: unknown[]): void {
    const context = contextOf(rest);
    this.write(START_UP_CONTEXTS.has(context) ? 'debug' : 'info', message, context);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, contextOf(rest));
  }

  error(message: unknown, ...rest: unknown[]): void {
    // Nest passes (message, stack?, context?): a stack is the one with the call frames in it.
    const stack = rest.find((value) => typeof value === 'string' && /\n\s+at /.test(value));
    const context = contextOf(rest.filter((value) => value !== stack));
    this.write('error', message, context, stack ? { stack: stack as string } : undefined);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    this.error(message, ...rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, contextOf(rest));
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, contextOf(rest));
  }

  /** Writes one line of `context` with fields of its own (access and audit lines). */
  line(level: LogLevel, context: string, msg: string, fields: LogEntry['fields']): void {
    if (isLogged(level, this.options.level)) {
      this.out.write(
        formatLogLine(
          { time: new Date(), level, app: this.options.app, context, msg, fields },
          this.format,
        ),
      );
    }
  }

  private write(
    level: LogLevel,
    message: unknown,
    context: string,
    fields?: LogEntry['fields'],
  ): void {
    if (isFieldedMessage(message)) {
      const { msg, ...own } = message;
      this.line(level, context, msg, { ...own, ...fields });
    } else {
      this.line(level, context, messageOf(message), fields);
    }
  }
}

/**
 * A message with fields of its own, as `logger.log({ msg, request_id, ... })` passes it: the
 * fields are written after the line's own (a fetch's request id, its remote and path).
 */
export interface FieldedMessage {
  msg: string;
  [field: string]: string | number | boolean | null;
}

function isFieldedMessage(message: unknown): message is FieldedMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    !(message instanceof Error) &&
    typeof (message as { msg?: unknown }).msg === 'string'
  );
}

function contextOf(rest: readonly unknown[]): string {
  const last = rest[rest.length - 1];
  return typeof last === 'string' ? last : '-';
}

function messageOf(message: unknown): string {
  if (typeof message === 'string') {
    return message;
  }
  if (message instanceof Error) {
    return message.message;
  }
  return JSON.stringify(message) ?? String(message);
}
