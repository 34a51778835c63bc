import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ArtifactError, type ArtifactErrorCode } from '@app/common';
import { type RegistryErrorCode, registryCodeOf, statusOf } from './error-status';

/** Codes of errors that are not ArtifactErrors: a method no route has, and a bug. */
export const ROUTING_ERROR_CODES = ['method_not_allowed', 'internal'] as const;

interface ErrorShape {
  status: number;
  code: ArtifactErrorCode | (typeof ROUTING_ERROR_CODES)[number];
  registryCode: RegistryErrorCode;
  message: string;
  detail?: unknown;
  retryAfter?: number;
  /** the whole size, for a 416's Content-Range */
  size?: number;
}

/**
 * The one place where errors become HTTP responses: `{"error","message"}` everywhere, and the
 * registry's `{"errors":[{code,message,detail}]}` under /v2 so that docker, containerd and skopeo
 * can read them.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ApiExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();

    // Once bytes went out the status cannot change: cut the connection so the client sees a
    // broken transfer instead of a short 200.
    if (reply.sent || reply.raw.headersSent) {
      this.logger.warn(
        `${request.method} ${request.url} failed mid-response: ${describe(exception)}`,
      );
      reply.raw.destroy();
      return;
    }

    const shape = this.shape(exception, request);
    if (shape.retryAfter !== undefined) {
      void reply.header('Retry-After', String(shape.retryAfter));
    }
    if (shape.status === 401) {
      void reply.header('WWW-Authenticate', 'Bearer realm="artifact-cache"');
    }
    if (shape.status === 416 && shape.size !== undefined) {
      void reply.header('Content-Range', `bytes */${shape.size}`);
    }
    void reply.header('Cache-Control', 'no-store');
    void reply.status(shape.status);
    if (request.method === 'HEAD') {
      void reply.send();
      return;
    }
    if (request.url.startsWith('/v2/')) {
      void reply.send({
        errors: [
          { code: shape.registryCode, message: shape.message, detail: shape.detail ?? null },
        ],
      });
      return;
    }
    void reply.send({ error: shape.code, message: shape.message });
  }

  private shape(exception: unknown, request: FastifyRequest): ErrorShape {
    if (exception instanceof ArtifactError) {
      const detail = exception.detail ?? {};
      const registryCode =
        (detail.registryCode as RegistryErrorCode | undefined) ?? registryCodeOf(exception.code);
      return {
        status: statusOf(exception.code),
        code: exception.code,
        registryCode,
        message: exception.message,
        detail: detail.registryDetail,
        retryAfter: typeof detail.retryAfter === 'number' ? detail.retryAfter : undefined,
        size: typeof detail.size === 'number' ? detail.size : undefined,
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      return {
        status,
        code: status === 404 ? 'not_found' : status === 405 ? 'method_not_allowed' : 'bad_request',
        registryCode: status === 404 ? 'NAME_UNKNOWN' : 'UNSUPPORTED',
        message:
          status === 404
            ? `no route for ${request.method} ${request.url.split('?')[0]}`
            : exception.message,
      };
    }
    if (isFastifyClientError(exception)) {
      return {
        status: exception.statusCode,
        code: 'bad_request',
        registryCode: 'UNSUPPORTED',
        message: exception.message,
      };
    }
    this.logger.error(
      `${request.method} ${request.url} [${request.id}] failed: ${describe(exception)}`,
      exception instanceof Error ? exception.stack : undefined,
    );
    return {
      status: 500,
      code: 'internal',
      registryCode: 'UNAVAILABLE',
      message: `internal error (request ${request.id})`,
    };
  }
}

function isFastifyClientError(error: unknown): error is Error & { statusCode: number } {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return error instanceof Error && typeof status === 'number' && status >= 400 && status < 500;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
