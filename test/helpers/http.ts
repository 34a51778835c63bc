import { createHash } from 'node:crypto';
import * as http from 'node:http';

export interface FetchedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** false when the connection broke before the body was complete */
  complete: boolean;
}

/**
 * A GET (or HEAD) with Node's client that tells a complete body from a broken transfer, which
 * fetch() hides behind one generic error. Bodies in tests are small or hashed by `sha256Of`.
 */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<FetchedResponse> {
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  const headers = body
    ? { 'content-length': String(body.length), ...options.headers }
    : options.headers;
  return collect(
    http.request(url, { method: options.method ?? 'GET', headers, agent: false }),
    body,
  );
}

/**
 * A request whose path goes out as written. A URL string is normalised by the WHATWG parser
 * first (`%2e%2e` is taken for `..` and resolved away), which hides what a raw client can send.
 * The path may hold any character from \u0021 to \u00ff (sent as one byte each).
 */
export function rawRequest(
  origin: string,
  rawPath: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<FetchedResponse> {
  const { hostname, port } = new URL(origin);
  const headers = options.body
    ? { 'content-length': String(options.body.length), ...options.headers }
    : options.headers;
  return collect(
    http.request({
      host: hostname,
      port,
      path: rawPath,
      method: options.method ?? 'GET',
      headers,
      agent: false,
    }),
    options.body,
  );
}

function collect(req: http.ClientRequest, body?: Buffer): Promise<FetchedResponse> {
  return new Promise((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      const finish = (complete: boolean) =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          complete,
        });
      res.once('end', () => finish(res.complete));
      res.once('error', () => finish(false));
      res.once('aborted', () => finish(false));
    });
    req.end(body);
  });
}

export interface StreamedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  size: number;
  sha256: string;
  complete: boolean;
}

/** A GET whose body is hashed as it streams (for large files). `onData` sees the running count. */
export function download(
  url: string,
  onData?: (received: number, response: http.IncomingMessage) => void,
  options: { hash?: boolean } = {},
): Promise<StreamedResponse> {
  const hashing = options.hash ?? true;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false });
    req.once('error', reject);
    req.once('response', (res) => {
      const hash = createHash('sha256');
      let size = 0;
      let done = false;
      const finish = (complete: boolean) => {
        if (!done) {
          done = true;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            size,
            sha256: hash.digest('hex'),
            complete,
          });
        }
      };
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (hashing) {
          hash.update(chunk);
        }
        onData?.(size, res);
      });
      res.once('end', () => finish(res.complete));
      res.once('error', () => finish(false));
      res.once('aborted', () => finish(false));
      res.once('close', () => finish(res.complete));
    });
    req.end();
  });
}

export function sha256Of(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
