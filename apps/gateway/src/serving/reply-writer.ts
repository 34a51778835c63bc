import type { OutgoingHttpHeader, ServerResponse } from 'node:http';
import { type Readable, pipeline } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { type SendableBody, isSendable } from '@app/storage';
import { endAtLength } from './content-length.transform';
import type { ServePlan } from './serve-plan';

/**
 * Writes a plan to the reply. A body that sends itself (a stored file, a miss read from the
 * fetcher's spool file) goes through its reused buffers once its first bytes are there: until
 * then nothing is committed, and a body that fails first gets its error answer the one way errors
 * do. Any other stream Fastify pipes, with backpressure.
 */
export async function writePlan(reply: FastifyReply, plan: ServePlan): Promise<FastifyReply> {
  void reply.status(plan.status).headers(plan.headers);
  const body = plan.body;
  if (!body) {
    return reply.send();
  }
  if (Buffer.isBuffer(body)) {
    return reply.send(body);
  }
  const length = Number(plan.headers['content-length']);
  if (isSendable(body)) {
    quietErrors(body);
    try {
      await body.firstBytes();
    } catch (error) {
      body.destroy();
      throw error;
    }
    // Fastify still runs the onResponse hooks (access line, metrics) once the raw response ends.
    reply.hijack();
    sendItself(reply.raw, plan.status, reply.getHeaders(), body, length);
    return reply;
  }
  return reply.send(Number.isSafeInteger(length) && length > 0 ? endAtLength(body, length) : body);
}

/**
 * Writes a plan to a raw response (the hit route), with the request's id: a stored file through
 * its reused buffers, anything else as writePlan would send it. A body that fails breaks the
 * transfer.
 */
export function sendPlan(response: ServerResponse, plan: ServePlan, requestId: string): void {
  const body = plan.body;
  if (response.destroyed) {
    // The client left while storage was being read: nothing to write to (piping to a destroyed
    // response throws at once).
    if (body && !Buffer.isBuffer(body)) {
      body.destroy();
    }
    return;
  }
  // As one flat list: a header set before writeHead (setHeader) makes Node copy every other one
  // through setHeader too, lowercasing and storing each, a share of a 4 KiB hit's CPU.
  const headers = ['x-request-id', requestId];
  for (const name in plan.headers) {
    headers.push(name, plan.headers[name]);
  }
  if (!body || Buffer.isBuffer(body)) {
    response.writeHead(plan.status, headers);
    response.end(body ?? undefined);
    return;
  }
  const length = Number(plan.headers['content-length']);
  if (isSendable(body)) {
    sendItself(response, plan.status, headers, body, length);
    return;
  }
  response.writeHead(plan.status, headers);
  const whole = Number.isSafeInteger(length) && length > 0 ? endAtLength(body, length) : body;
  pipeline(whole, response, () => undefined);
}

/**
 * The headers, then the body through its reused buffers: exactly `length` bytes when it is
 * known, else a broken transfer.
 */
function sendItself(
  response: ServerResponse,
  status: number,
  headers: Record<string, OutgoingHttpHeader | undefined> | string[],
  body: Readable & SendableBody,
  length: number,
): void {
  quietErrors(body);
  if (response.destroyed) {
    // The client left while the body was being opened.
    body.destroy();
    return;
  }
  response.writeHead(status, headers);
  body.sendTo(response).then(
    (sent) =>
      Number.isSafeInteger(length) && sent !== length ? response.destroy() : response.end(),
    () => response.destroy(),
  );
}

/**
 * A self-sending body's failures reach its sender through firstBytes and sendTo: its error event
 * (an abort, say) must not throw out of the process. Listens once, however often it is called.
 */
function quietErrors(body: Readable): void {
  body.off('error', failsThroughSendTo).on('error', failsThroughSendTo);
}

function failsThroughSendTo(): void {}
