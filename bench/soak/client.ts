import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { Exchange } from './expectations';

/** Bodies up to this size are kept as text (error answers, upload results, small indexes). */
const KEPT_TEXT_BYTES = 4096;

export interface ExchangeRequest {
  method: 'GET' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** the whole exchange, headers and body; past it the request is destroyed */
  timeoutMs: number;
}

/** What a client loop needs from an exchange besides the verdict's inputs. */
export interface MeasuredExchange extends Exchange {
  bytes: number;
  started: number;
  ended: number;
}

/**
 * One request on a keep-alive agent (one connection per client loop), the body hashed as it
 * streams and never held, except small bodies kept as text. Never rejects: a failure is data.
 */
export function exchange(agent: http.Agent, request: ExchangeRequest): Promise<MeasuredExchange> {
  const started = Date.now();
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let bytes = 0;
    let timedOut = false;
    let settled = false;
    let response: http.IncomingMessage | null = null;
    const headers: Record<string, string> = { ...request.headers };
    if (request.body) {
      headers['content-length'] = String(request.body.length);
    }
    const finish = (complete: boolean, transportError: string | null) => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      const header = (name: string) => {
        const value = response?.headers[name];
        return typeof value === 'string' ? value : null;
      };
      resolve({
        status: response?.statusCode ?? 0,
        transportError,
        timedOut,
        complete,
        sha256: hash.digest('hex'),
        source: header('x-artifact-source'),
        checksumHeader: header('x-checksum-sha256'),
        text: keptBytes <= KEPT_TEXT_BYTES ? Buffer.concat(kept).toString('utf8') : null,
        bytes,
        started,
        ended: Date.now(),
      });
    };
    const req = http.request(request.url, { method: request.method, headers, agent });
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error(`no complete answer within ${request.timeoutMs} ms`));
    }, request.timeoutMs);
    req.once('error', (error: NodeJS.ErrnoException) => {
      finish(false, error.code ?? error.message);
    });
    req.once('response', (res) => {
      response = res;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
        if (keptBytes <= KEPT_TEXT_BYTES) {
          kept.push(chunk);
        }
        keptBytes += chunk.length;
      });
      res.once('end', () => finish(res.complete, null));
      res.once('aborted', () => finish(false, null));
      res.once('error', () => finish(false, null));
      res.once('close', () => finish(res.complete, null));
    });
    req.end(request.body);
  });
}
