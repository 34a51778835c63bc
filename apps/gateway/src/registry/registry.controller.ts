import { Controller, Get, Head, Header, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NO_REMOTE } from '@app/metrics';
import { labelRequest, registryRouteOf } from '../http/request-labels';
import { serveRequestOf } from '../http/serve-request';
import { writePlan } from '../serving/reply-writer';
import { RegistryService } from './registry.service';

const PREFIX = '/v2/';

/** Docker Registry HTTP API v2, pull side (docs/HTTP-API.md). */
@Controller('v2')
export class RegistryController {
  constructor(private readonly registry: RegistryService) {}

  @Get()
  @Header('Docker-Distribution-Api-Version', 'registry/2.0')
  ping(): Record<string, never> {
    return {};
  }

  @Get('*')
  get(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(request, reply);
  }

  @Head('*')
  head(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(request, reply);
  }

  private async serve(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const raw = request.raw.url ?? request.url;
    const queryAt = raw.indexOf('?');
    const rest = (queryAt === -1 ? raw : raw.slice(0, queryAt)).slice(PREFIX.length);
    const query = queryAt === -1 ? '' : raw.slice(queryAt + 1);
    labelRequest(request.raw, { remote: NO_REMOTE, route: registryRouteOf(rest) });
    const resolved = this.registry.resolve(rest);
    labelRequest(request.raw, { remote: resolved.remote.name, route: registryRouteOf(rest) });
    const plan = await this.registry.serve(
      resolved,
      query,
      serveRequestOf(request, reply),
      `${PREFIX}${rest}`,
    );
    await writePlan(reply, plan);
  }
}
