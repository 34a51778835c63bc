import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { getQueueToken } from '@nestjs/bullmq';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isArtifactError } from '@app/common';
import { FETCH_QUEUES, WARM_QUEUE } from '@app/jobs';
import { statusOf } from '../../errors/error-status';
import {
  ConsoleSessions,
  SESSION_COOKIE,
  cookieValue,
  sameOrigin,
} from '../../console/console-session';
import type { AdminTokenCheck } from '../admin-token';

const QUEUE_BOARD_PATH = '/admin/queues';

/** The board's page links web fonts on the internet: the link is dropped (system fonts serve). */
const EXTERNAL_STYLESHEETS = /<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>\s*/g;
/** Nothing but the gateway's own; the page's loading placeholder has inline styles. */
const BOARD_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'";

/**
 * Bull Board, the queue web UI, under /admin/queues behind ADMIN_TOKEN. A browser logged in to the
 * console is let in by its session (its changes only from the console's own origin); other
 * browsers are asked for HTTP Basic credentials (any user name, the token as password); scripts
 * may send the bearer token.
 */
export async function registerQueueBoard(
  app: NestFastifyApplication,
  check: AdminTokenCheck,
  adminToken: string | null,
): Promise<void> {
  const sessions = adminToken === null ? null : new ConsoleSessions(adminToken);
  const inSession = (request: FastifyRequest): boolean => {
    if (sessions === null || request.headers.authorization !== undefined) {
      return false;
    }
    const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (sessions.verify(cookie, Math.floor(Date.now() / 1000)) === null) {
      return false;
    }
    const reads = request.method === 'GET' || request.method === 'HEAD';
    return reads || sameOrigin(request.headers);
  };
  const queues = [...FETCH_QUEUES, WARM_QUEUE].map(
    (name) => new BullMQAdapter(app.get<Queue>(getQueueToken(name))),
  );
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({ queues, serverAdapter });
  await app.register(async (scope: FastifyInstance) => {
    scope.addHook('onRequest', (request, reply, done) => {
      if (inSession(request)) {
        done();
        return;
      }
      try {
        check.verify(request.headers.authorization);
        done();
      } catch (error) {
        if (!isArtifactError(error)) {
          done(error as Error);
          return;
        }
        void reply
          .code(statusOf(error.code))
          .header('www-authenticate', 'Basic realm="artifact-cache admin", charset="UTF-8"')
          .send({ error: error.code, message: error.message });
      }
    });
    scope.addHook('onSend', (_request, reply, payload, done) => {
      const type = String(reply.getHeader('content-type') ?? '');
      if (type.startsWith('text/html') && typeof payload === 'string') {
        reply.header('content-security-policy', BOARD_CSP);
        done(null, payload.replace(EXTERNAL_STYLESHEETS, ''));
        return;
      }
      done(null, payload);
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
  });
}
