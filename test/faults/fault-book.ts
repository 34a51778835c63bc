/**
 * Bookkeeping for the fault suite: every answer timed and its body hashed as it streams, the
 * shape of every error checked the same way, and a table of what was measured printed at the end
 * of each spec file (case, fault, what held, time to answer) for the docs.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { inspect, stripVTControlCharacters } from 'node:util';

const ROOT = join(__dirname, '..', '..');
const TIMINGS_DIR = join(ROOT, '.data', 'fault-timings');

/** One answer as a client saw it, bounded by a deadline so that a hang fails instead of waiting. */
export interface Answer {
  /** 0 when no status line arrived (refused, reset before headers, or the deadline passed) */
  status: number;
  headers: http.IncomingHttpHeaders;
  /** body bytes received */
  size: number;
  sha256: string;
  /** the body reached its framing's end (Content-Length or the chunked terminator) */
  complete: boolean;
  /** the deadline passed before the answer ended; the request was then abandoned */
  timedOut: boolean;
  /** from sending the request until the answer ended, broke or was abandoned */
  ms: number;
  /** performance.now() when it ended (to measure from a fault injected meanwhile) */
  endedAt: number;
  /** the first 64 KiB of the body as text (error documents) */
  text: string;
  /** the connection error when there was no answer */
  error: string | null;
}

export interface AskOptions {
  method?: string;
  headers?: Record<string, string>;
  /** abandon the answer after this long (a bound, not a measurement) */
  withinMs: number;
  /** sees the running byte count after each chunk (to inject a fault at a known point) */
  onData?: (received: number) => void;
}

const TEXT_BYTES = 64 * 1024;

/** A GET (or HEAD) that hashes the body as it streams and never outlives `withinMs`. */
export function ask(url: string, options: AskOptions): Promise<Answer> {
  const began = performance.now();
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const text: Buffer[] = [];
    let textBytes = 0;
    let size = 0;
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    let settled = false;
    const finish = (complete: boolean, timedOut: boolean, error: string | null) => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      const endedAt = performance.now();
      resolve({
        status,
        headers,
        size,
        sha256: hash.digest('hex'),
        complete,
        timedOut,
        ms: Math.round(endedAt - began),
        endedAt,
        text: Buffer.concat(text).toString('utf8'),
        error,
      });
    };
    const req = http.request(url, {
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      finish(false, true, null);
      req.destroy();
    }, options.withinMs);
    req.once('error', (error: NodeJS.ErrnoException) =>
      finish(false, false, error.code ?? error.message),
    );
    req.once('response', (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        hash.update(chunk);
        if (textBytes < TEXT_BYTES) {
          text.push(chunk.subarray(0, TEXT_BYTES - textBytes));
          textBytes += Math.min(chunk.length, TEXT_BYTES - textBytes);
        }
        options.onData?.(size);
      });
      res.once('end', () => finish(res.complete, false, null));
      res.once('aborted', () => finish(false, false, null));
      res.once('error', () => finish(false, false, null));
      res.once('close', () => finish(res.complete, false, null));
    });
    req.end();
  });
}

/** The answer carries the whole file: 200, complete, these bytes. */
export function expectServed(answer: Answer, sha256: string, size?: number): void {
  expect({
    status: answer.status,
    complete: answer.complete,
    sha256: answer.sha256,
    ...(size === undefined ? {} : { size: answer.size }),
  }).toEqual({ status: 200, complete: true, sha256, ...(size === undefined ? {} : { size }) });
}

/**
 * Never a short or wrong 200: either the whole right body, or a transfer that visibly broke, or
 * (when the failure came before the body) an error status with Retry-After.
 */
export function expectRightOrBroken(answer: Answer, sha256: string, size: number): void {
  if (answer.status === 200 && answer.complete) {
    expect({ size: answer.size, sha256: answer.sha256 }).toEqual({ size, sha256 });
    return;
  }
  expectNotServed(answer, size);
}

/**
 * Nothing usable was served, and visibly so: a transfer that broke, or an error status with
 * Retry-After when the failure came before the body. Never a complete 200, never a hang.
 */
export function expectNotServed(answer: Answer, size: number): void {
  expect(answer.timedOut).toBe(false);
  if (answer.status === 200 || answer.status === 0) {
    expect(answer.complete).toBe(false);
    expect(answer.size).toBeLessThan(size);
    return;
  }
  expect(answer.status).toBeGreaterThanOrEqual(500);
  expect({ 'retry-after': answer.headers['retry-after'] }).toEqual({
    'retry-after': expect.stringMatching(/^\d+$/),
  });
}

/** Milliseconds from `since` (performance.now() at a fault) to the end of `answer`. */
export function msSince(answer: Answer, since: number): number {
  return Math.round(answer.endedAt - since);
}

/** A transfer that started and broke: 200 headers, then fewer bytes than announced. */
export function expectBroken(answer: Answer, size: number): void {
  expect({ timedOut: answer.timedOut, status: answer.status, complete: answer.complete }).toEqual({
    timedOut: false,
    status: 200,
    complete: false,
  });
  expect(answer.size).toBeLessThan(size);
}

/**
 * An error answer of /api/v1/remote: this status, `{"error": code, "message"}` and, when asked,
 * a numeric Retry-After (returned).
 */
export function expectApiError(
  answer: Answer,
  status: number,
  code: string | null,
  options: { retryAfter?: boolean } = {},
): number | null {
  expect({ timedOut: answer.timedOut, status: answer.status }).toEqual({
    timedOut: false,
    status,
  });
  const body = parseJson(answer) as { error?: unknown; message?: unknown };
  expect(typeof body.message).toBe('string');
  if (code === null) {
    expect(typeof body.error).toBe('string');
  } else {
    expect(body.error).toBe(code);
  }
  return checkRetryAfter(answer, options.retryAfter ?? false);
}

/** An error answer under /v2: this status and `{"errors":[{code,message,detail}]}`. */
export function expectRegistryError(
  answer: Answer,
  status: number,
  code: string,
  options: { retryAfter?: boolean } = {},
): number | null {
  expect({ timedOut: answer.timedOut, status: answer.status }).toEqual({
    timedOut: false,
    status,
  });
  const body = parseJson(answer) as { errors?: Array<Record<string, unknown>> };
  expect(body.errors).toHaveLength(1);
  expect(body.errors?.[0]).toMatchObject({ code, message: expect.any(String) });
  expect(body.errors?.[0]).toHaveProperty('detail');
  return checkRetryAfter(answer, options.retryAfter ?? false);
}

function checkRetryAfter(answer: Answer, required: boolean): number | null {
  const value = answer.headers['retry-after'];
  if (!required) {
    return value === undefined ? null : Number(value);
  }
  expect({ 'retry-after': value }).toEqual({ 'retry-after': expect.stringMatching(/^\d+$/) });
  const seconds = Number(value);
  expect(seconds).toBeGreaterThan(0);
  expect(seconds).toBeLessThanOrEqual(3600);
  return seconds;
}

function parseJson(answer: Answer): unknown {
  try {
    return JSON.parse(answer.text);
  } catch {
    throw new Error(`expected a JSON error body, got ${JSON.stringify(answer.text.slice(0, 300))}`);
  }
}

interface Row {
  case: string;
  fault: string;
  must: string;
  verdict: string;
  answer: string;
  ms: number;
}

export interface Check {
  /** the test case, short */
  case: string;
  /** what was done to the system */
  fault: string;
  /** what the assertions demand, in words */
  must: string;
  /** performance.now() at the fault: the time is then measured from it, not from the request */
  since?: number;
}

/** Measured answers of one spec file, printed as a table at its end. */
export class FaultBook {
  private readonly rows: Row[] = [];
  /** failures held back by `together`, or null when a failing check throws at once */
  private deferred: unknown[] | null = null;

  constructor(private readonly file: string) {}

  /**
   * Runs `assertions` on `answer` and records the row either way (held, or FAILED with what the
   * assertion saw), so the printed table also tells what a failing case observed.
   */
  check(check: Check, answer: Answer, assertions: () => void): void {
    const ms = check.since === undefined ? answer.ms : msSince(answer, check.since);
    this.record(check, describeAnswer(answer), ms, assertions);
  }

  /**
   * Runs `body`, whose checks all run and are all recorded even when an early one fails (the
   * table then says what every case of a fault did); the first failure is thrown at the end.
   */
  async together<T>(body: () => Promise<T>): Promise<T> {
    if (this.deferred) {
      // Already inside one: the outermost call throws.
      return body();
    }
    const failures: unknown[] = [];
    this.deferred = failures;
    let result: T;
    try {
      result = await body();
    } finally {
      this.deferred = null;
    }
    if (failures.length > 0) {
      throw failures[0] instanceof Error ? failures[0] : new Error(inspect(failures[0]));
    }
    return result;
  }

  /** The same for a state that is not an answer (a row written, a job's attempts). */
  async checkState(check: Check, observe: () => Promise<string>, assertions: () => Promise<void>) {
    const began = check.since ?? performance.now();
    let failure: unknown = null;
    try {
      await assertions();
    } catch (error) {
      failure = error;
    }
    const ms = performance.now() - began;
    const observed = await observe().catch((error: unknown) => `could not look: ${String(error)}`);
    this.record(check, observed, ms, () => {
      if (failure !== null) {
        throw failure instanceof Error ? failure : new Error(inspect(failure));
      }
    });
  }

  private record(check: Check, observed: string, ms: number, assertions: () => void): void {
    const row: Row = {
      case: check.case,
      fault: check.fault,
      must: check.must,
      verdict: 'held',
      answer: observed,
      ms,
    };
    this.rows.push(row);
    try {
      assertions();
    } catch (error) {
      row.verdict = `FAILED: ${failureSummary(error)}`;
      if (this.deferred) {
        this.deferred.push(error);
        return;
      }
      throw error;
    }
  }

  /** The table in Markdown, for docs/; printed by `print` in afterAll. */
  table(): string {
    const header = '| case | fault | what must hold | verdict | answer | time to answer |';
    const lines = this.rows.map(
      (r) =>
        `| ${r.case} | ${r.fault} | ${r.must} | ${r.verdict} | ${r.answer} | ${(r.ms / 1000).toFixed(2)} s |`,
    );
    return [header, '| --- | --- | --- | --- | --- | --- |', ...lines].join('\n');
  }

  /** Prints the table and keeps a copy in .data/fault-timings/ (collected for the docs). */
  print(): void {
    if (this.rows.length === 0) {
      return;
    }
    const name = relative(ROOT, this.file);
    console.log(`fault timings, ${name}:\n${this.table()}`);
    mkdirSync(TIMINGS_DIR, { recursive: true });
    writeFileSync(
      join(TIMINGS_DIR, `${basename(this.file, '.e2e-spec.ts')}.md`),
      `${this.table()}\n`,
    );
  }
}

/**
 * What a jest failure received, on one line for the table: the `Received:` line, or the `+`
 * lines of an object diff (the expectation is in the "what must hold" column already).
 */
function failureSummary(error: unknown): string {
  const text = stripVTControlCharacters(error instanceof Error ? error.message : String(error));
  const lines = text.split('\n').map((line) => line.trim());
  const received = lines
    .filter((line) => /^(Received:|\+ )/.test(line) && !/^\+ Received/.test(line))
    .map((line) =>
      line
        .replace(/^\+\s*/, 'got ')
        .replace(/"/g, '')
        .replace(/,$/, ''),
    );
  const summary = received.length > 0 ? received.slice(0, 4).join('; ') : lines[0];
  return summary.replace(/\|/g, '/');
}

function errorCodeOf(text: string): string | null {
  try {
    const body = JSON.parse(text) as { error?: unknown; errors?: Array<{ code?: unknown }> };
    const code = body.error ?? body.errors?.[0]?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

function describeAnswer(answer: Answer): string {
  if (answer.timedOut) {
    return `no end within the bound (status ${answer.status || 'none'}, ${answer.size} bytes)`;
  }
  if (answer.status === 0) {
    return `no answer (${answer.error ?? 'closed'})`;
  }
  const source = answer.headers['x-artifact-source'];
  const retry = answer.headers['retry-after'];
  return [
    String(answer.status),
    answer.status >= 400 ? errorCodeOf(answer.text) : null,
    source ? `source ${String(source)}` : null,
    retry ? `Retry-After ${String(retry)}` : null,
    answer.status < 300
      ? answer.complete
        ? `${answer.size} bytes`
        : `broken at ${answer.size}`
      : null,
  ]
    .filter(Boolean)
    .join(', ');
}
