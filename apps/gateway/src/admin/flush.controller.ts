import { Controller, Delete, Put, Query, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { splitRemotePath } from '../http/path-guard';
import { AdminTokenGuard } from './admin-token.guard';
import { CacheFlushService, type FlushResult } from './cache-flush.service';
import { CachePurgeService, type PurgeResult } from './cache-purge.service';

@Controller('cache')
@UseGuards(AdminTokenGuard)
export class FlushController {
  constructor(
    private readonly flusher: CacheFlushService,
    private readonly purger: CachePurgeService,
  ) {}

  /** docs/HTTP-API.md: `PUT /cache/flush[?remote=NAME]`. */
  @Put('flush')
  flush(@Query('remote') remote?: string): Promise<FlushResult> {
    return this.flusher.flush(remote === undefined || remote === '' ? null : remote);
  }

  /** docs/HTTP-API.md: `DELETE /cache/{remote}/{path}`, a prefix when the path ends in `/`. */
  @Delete(':remote/*')
  purge(@Req() request: FastifyRequest): Promise<PurgeResult> {
    const { remote, rawPath } = splitRemotePath(request.raw.url ?? request.url, '/cache/');
    return this.purger.purge(remote, rawPath, String(request.id));
  }
}
