import type { FastifyReply } from 'fastify';
import { endAtLength } from './content-length.transform';
import type { ServePlan } from './serve-plan';

/** Writes a plan to the reply; streams the body with backpressure (Fastify pipes it). */
export function writePlan(reply: FastifyReply, plan: ServePlan): FastifyReply {
  void reply.status(plan.status).headers(plan.headers);
  if (!plan.body) {
    return reply.send();
  }
  const length = Number(plan.headers['content-length']);
  return reply.send(
    Number.isSafeInteger(length) && length > 0 ? endAtLength(plan.body, length) : plan.body,
  );
}
