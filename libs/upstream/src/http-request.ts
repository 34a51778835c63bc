import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';

export class HttpTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpTimeoutError';
  }
}

export interface HttpRequestOptions {
  method: string;
  headers: Record<string, string>;
  agent: http.Agent | https.Agent;
  /** to connect and receive the response headers */
  headersTimeoutMs: number;
  /** longest silence while the body streams */
  idleTimeoutMs: number;
  signal?: AbortSignal;
  /** resolves the host name (redirects use a guarded lookup) */
  lookup?: http.RequestOptions['lookup'];
}

export interface HttpResponse {
  status: number;
  /** lower-case names, repeated headers joined with ', ' */
  headers: Record<string, string>;
  body: Readable;
}

/**
 * One HTTP request with Node's own client. (undici 6 and 7 crash the process with an uncatchable
 * `assert(!this.paused)` when a server closes the connection while a body is paused by
 * backpressure, nodejs/undici#5360, which is exactly what a slow storage write does to a download.)
 * A GET or HEAD that meets a kept-alive connection the server has just closed is sent again on
 * another one (see `resendOnNewConnection`).
 */
export async function httpRequest(url: URL, options: HttpRequestOptions): Promise<HttpResponse> {
  for (let resent = 0; ; resent += 1) {
    const attempt = await sendOnce(url, options);
    if (attempt.ok) {
      return attempt.response;
    }
    const code = (attempt.error as NodeJS.ErrnoException).code;
    if (
      resent >= MAX_RESENDS ||
      options.signal?.aborted ||
      !resendOnNewConnection(options.method, attempt.reusedSocket, code)
    ) {
      throw attempt.error;
    }
  }
}

/**
 * More than one stale connection in a row is rare (the agent hands out the most recently used
 * one first); the bound only keeps a server that resets every request from looping us.
 */
const MAX_RESENDS = 3;

/**
 * A server closes an idle keep-alive connection when it likes (Node's default after 5 s, nginx
 * after 75 s); a request written on it as the close is under way fails with ECONNRESET or EPIPE
 * before any byte of an answer, and the server never processed it. Node's documentation of
 * `agent.keepAlive` says to retry such requests when `request.reusedSocket` is set; only methods
 * that are safe to send twice are. Under load this was a steady trickle of 502s (soak, 10 min:
 * 30 fetches failed with "unreachable: ECONNRESET" against a loopback upstream).
 */
export function resendOnNewConnection(
  method: string,
  reusedSocket: boolean,
  code: string | undefined,
): boolean {
  return (
    reusedSocket &&
    (method === 'GET' || method === 'HEAD') &&
    (code === 'ECONNRESET' || code === 'EPIPE')
  );
}

type Attempt =
  { ok: true; response: HttpResponse } | { ok: false; error: Error; reusedSocket: boolean };

function sendOnce(url: URL, options: HttpRequestOptions): Promise<Attempt> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const request = client.request(url, {
      method: options.method,
      headers: options.headers,
      agent: options.agent,
      signal: options.signal,
      ...(options.lookup ? { lookup: options.lookup } : {}),
    });
    const headersTimer = setTimeout(() => {
      request.destroy(
        new HttpTimeoutError(`no response headers within ${options.headersTimeoutMs} ms`),
      );
    }, options.headersTimeoutMs);
    request.once('error', (error) => {
      clearTimeout(headersTimer);
      resolve({ ok: false, error, reusedSocket: request.reusedSocket });
    });
    request.once('response', (response) => {
      clearTimeout(headersTimer);
      request.setTimeout(options.idleTimeoutMs, () => {
        response.destroy(new HttpTimeoutError(`body silent for ${options.idleTimeoutMs} ms`));
      });
      response.once('end', () => request.setTimeout(0));
      resolve({
        ok: true,
        response: {
          status: response.statusCode ?? 0,
          headers: flatten(response.headers),
          body: response,
        },
      });
    });
    request.end();
  });
}

/** Reads and drops what is left of a body so the connection can be reused. */
export async function discard(body: Readable): Promise<void> {
  if (body.readableEnded || body.destroyed) {
    return;
  }
  await new Promise<void>((resolve) => {
    body.once('end', resolve);
    body.once('close', resolve);
    body.once('error', () => resolve());
    body.resume();
  });
}

function flatten(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) {
      flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  return flat;
}
