import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig } from '@app/config';

/**
 * `Authorization: Bearer $ADMIN_TOKEN` for writes and admin routes (SPEC §4), checked before
 * anything else about the request: no body is read, no remote looked up.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.adminToken === null ? null : digest(config.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.expected === null) {
      throw new ArtifactError(
        'admin_disabled',
        'uploads, deletes and admin routes are disabled: start the gateway with ADMIN_TOKEN set to enable them',
      );
    }
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) {
      throw new ArtifactError(
        'unauthorized',
        'this route needs Authorization: Bearer <ADMIN_TOKEN>',
      );
    }
    // Comparing fixed-length digests keeps the time independent of where (or whether) they differ.
    if (!timingSafeEqual(digest(match[1]), this.expected)) {
      throw new ArtifactError('bad_token', 'the bearer token is not the admin token');
    }
    return true;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
