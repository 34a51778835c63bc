import { Controller, Get, Head, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { NO_REMOTE } from '@app/metrics';
import { splitRemotePath } from '../http/path-guard';
import { labelRequest } from '../http/request-labels';
import { clientOrigin, serveRequestOf } from '../http/serve-request';
import { writePlan } from '../serving/reply-writer';
import { ARTIFACT_ROUTE_PREFIX } from '@app/formats';
import { ArtifactsService } from './artifacts.service';

@Controller('api/v1/remote')
export class ArtifactsController {
  constructor(
    private readonly artifacts: ArtifactsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** `/api/v1/remote/<hosted>/`: the root listing (the trailing slash is ignored by the router). */
  @Get(':remote')
  getRoot(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(request, reply);
  }

  @Get(':remote/*')
  get(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(request, reply);
  }

  @Head(':remote/*')
  head(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(request, reply);
  }

  private async serve(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { remote, rawPath } = splitRemotePath(
      request.raw.url ?? request.url,
      ARTIFACT_ROUTE_PREFIX,
    );
    labelRequest(request.raw, {
      remote: Object.hasOwn(this.config.remotes, remote) ? remote : NO_REMOTE,
      route: 'artifact',
    });
    const plan = await this.artifacts.serve(remote, rawPath, serveRequestOf(request, reply), () =>
      clientOrigin(request, this.config.publicUrl),
    );
    await writePlan(reply, plan);
  }
}
