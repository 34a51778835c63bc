import { Controller, Put, Query, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from './admin-token.guard';
import { CacheFlushService, type FlushResult } from './cache-flush.service';

@Controller('cache')
@UseGuards(AdminTokenGuard)
export class FlushController {
  constructor(private readonly flusher: CacheFlushService) {}

  /** docs/HTTP-API.md: `PUT /cache/flush[?remote=NAME]`. */
  @Put('flush')
  flush(@Query('remote') remote?: string): Promise<FlushResult> {
    return this.flusher.flush(remote === undefined || remote === '' ? null : remote);
  }
}
