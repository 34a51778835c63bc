import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { FileBody } from '@app/storage';
import { endAtLength } from './content-length.transform';
import type { ServePlan } from './serve-plan';

/** Writes a plan to the reply; streams the body with backpressure (Fastify pipes it). */
export function writePlan(reply: FastifyReply, plan: ServePlan): FastifyReply {
  void reply.status(plan.status).headers(plan.headers);
  if (!plan.body) {
    return reply.send();
  }
  if (Buffer.isBuffer(plan.body)) {
    return reply.send(plan.body);
  }
  const length = Number(plan.headers['content-length']);
  return reply.send(
    Number.isSafeInteger(length) && length > 0 ? endAtLength(plan.body, length) : plan.body,
  );
}

/**
 * Writes a plan to a raw response (the hit route), with the request's id: a stored file goes
 * through FileBody's reused buffers, anything else as writePlan would send it. A body that fails
 * breaks the transfer.
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
  response.writeHead(plan.status, headers);
  if (!body || Buffer.isBuffer(body)) {
    response.end(body ?? undefined);
    return;
  }
  if (body instanceof FileBody) {
    body.sendTo(response).then(
      () => response.end(),
      () => response.destroy(),
    );
    return;
  }
  const length = Number(plan.headers['content-length']);
  const whole = Number.isSafeInteger(length) && length > 0 ? endAtLength(body, length) : body;
  pipeline(whole, response, () => undefined);
}
