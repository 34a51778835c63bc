import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { AdminTokenCheck } from './admin-token';

/**
 * `Authorization: Bearer $ADMIN_TOKEN` for writes and admin routes (docs/HTTP-API.md), checked before
 * anything else about the request: no body is read, no remote looked up.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly check: AdminTokenCheck;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.check = new AdminTokenCheck(config.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    this.check.verify(context.switchToHttp().getRequest<FastifyRequest>().headers.authorization);
    return true;
  }
}
