/**
 * What the soak accepts as the answer to each of its operations, and the name of everything
 * else. Pure: the workload measures an exchange, this decides whether it was expected.
 */

export const OPERATIONS = [
  /** GET of one of the upstream's fixed immutable files: a hit, or a miss after a flush */
  'hit',
  /** GET of a mutable index: a fresh hit, a revalidation (unchanged or changed) or a miss */
  'index',
  /** GET of an immutable path nobody asked for before: always a miss */
  'new',
  /** GET of a path the upstream answers 404 (a new one, or a repeated one: negative cache) */
  'missing',
  /** PUT of a new hosted file with the admin token and its checksum */
  'upload',
  /** GET of an uploaded file */
  'upload-read',
  /** PUT over an uploaded file (the hosted remote does not allow overwrite) */
  'upload-conflict',
  /** DELETE of an uploaded file */
  'upload-delete',
  /** GET of a hosted file deleted earlier */
  'deleted-read',
  /** PUT /cache/flush?remote=<the proxy remote> with the admin token */
  'flush',
] as const;

export type Operation = (typeof OPERATIONS)[number];

/** The one status each operation may answer; anything else is unexpected. */
export const EXPECTED_STATUS: Readonly<Record<Operation, number>> = {
  hit: 200,
  index: 200,
  new: 200,
  missing: 404,
  upload: 201,
  'upload-read': 200,
  // allow_overwrite: false, and the soak never PUTs a path while another PUT of it runs
  'upload-conflict': 409,
  'upload-delete': 204,
  'deleted-read': 404,
  flush: 200,
};

/** One request as the client saw it. */
export interface Exchange {
  /** 0 when no response arrived */
  status: number;
  /** the connection failed before a response (code or message), or the deadline passed */
  transportError: string | null;
  timedOut: boolean;
  /** the body arrived whole (Content-Length or chunked framing satisfied) */
  complete: boolean;
  sha256: string;
  /** X-Artifact-Source */
  source: string | null;
  /** X-Checksum-Sha256 */
  checksumHeader: string | null;
  /** the body as text when it is small (error answers, upload results), else null */
  text: string | null;
}

export interface Expectation {
  status: number;
  /** digests that are right for this request (absent: the body is not checked) */
  sha256?: readonly string[];
  /** digests that were right once but are too old for this request (mutable files) */
  outdatedSha256?: readonly string[];
  /** acceptable X-Artifact-Source values (absent: not checked) */
  sources?: readonly string[];
  /** the sha256 field the JSON answer must carry (uploads) */
  answerSha256?: string;
}

export type Judgement = { ok: true } | { ok: false; problem: string };

/**
 * The first thing wrong with an exchange, as a short label for the error table ("status 502
 * upstream_unavailable", "broken transfer", "wrong bytes", ...), or ok.
 */
export function judge(exchange: Exchange, expected: Expectation): Judgement {
  if (exchange.status === 0) {
    return fail(
      exchange.timedOut ? 'timeout before response' : `no response: ${exchange.transportError}`,
    );
  }
  if (exchange.status !== expected.status) {
    const code = errorCodeOf(exchange.text);
    return fail(`status ${exchange.status}${code ? ` ${code}` : ''}`);
  }
  if (!exchange.complete) {
    return fail(exchange.timedOut ? 'timeout mid-body' : 'broken transfer');
  }
  if (expected.sha256 && !expected.sha256.includes(exchange.sha256)) {
    return fail(
      expected.outdatedSha256?.includes(exchange.sha256) ? 'outdated copy' : 'wrong bytes',
    );
  }
  if (
    expected.sha256 &&
    exchange.checksumHeader !== null &&
    exchange.checksumHeader !== exchange.sha256
  ) {
    return fail('X-Checksum-Sha256 differs from the body');
  }
  if (expected.sources && !expected.sources.includes(exchange.source ?? '')) {
    return fail(`source ${exchange.source ?? 'missing'}`);
  }
  if (expected.answerSha256 !== undefined) {
    const answered = jsonField(exchange.text, 'sha256');
    if (answered !== expected.answerSha256) {
      return fail('answer names another sha256');
    }
  }
  return { ok: true };
}

function fail(problem: string): Judgement {
  return { ok: false, problem };
}

/** The gateway's `{"error": code, "message": ...}`. */
function errorCodeOf(text: string | null): string | null {
  const code = jsonField(text, 'error');
  return typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : null;
}

function jsonField(text: string | null, field: string): unknown {
  if (text === null) {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object'
      ? (value as Record<string, unknown>)[field]
      : undefined;
  } catch {
    return undefined;
  }
}
