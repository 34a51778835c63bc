import type { FastifyReply } from 'fastify';
import type { ServePlan } from './serve-plan';

/** Writes a plan to the reply; streams the body with backpressure (Fastify pipes it). */
export function writePlan(reply: FastifyReply, plan: ServePlan): FastifyReply {
  void reply.status(plan.status).headers(plan.headers);
  return plan.body ? reply.send(plan.body) : reply.send();
}
