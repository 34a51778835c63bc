import { Controller, Get, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ArtifactError } from '@app/common';
import { readJsonBody } from '../../http/json-body';
import { clientGone } from '../../http/serve-request';
import { AdminTokenGuard } from '../admin-token.guard';
import { MAX_WAIT_SECONDS, WarmUps } from './warm-ups.service';
import type { WarmView } from './warm-view';

/**
 * Warm-ups (docs/HTTP-API.md#warm-up), behind the admin token. `?wait=<seconds>` holds the
 * answer until the warm-up is done (200) or the time is up (202, still running); `Accept:
 * text/plain` answers with the summary alone, for a terminal.
 */
@Controller('admin/api/warm')
@UseGuards(AdminTokenGuard)
export class WarmController {
  constructor(private readonly warmUps: WarmUps) {}

  @Post()
  async start(
    @Query('wait') wait: string | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<WarmView | string> {
    const seconds = waitSeconds(wait);
    const body = await readJsonBody(request);
    const view = await this.warmUps.start(body, seconds, clientGone(reply));
    return answer(view, request, reply);
  }

  @Get(':id')
  async show(
    @Param('id') id: string,
    @Query('wait') wait: string | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<WarmView | string> {
    const view = await this.warmUps.view(id, waitSeconds(wait), clientGone(reply));
    return answer(view, request, reply);
  }
}

function waitSeconds(value: string | undefined): number {
  if (value === undefined || value === '') {
    return 0;
  }
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_WAIT_SECONDS) {
    throw new ArtifactError(
      'bad_request',
      `wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}`,
    );
  }
  return seconds;
}

function answer(view: WarmView, request: FastifyRequest, reply: FastifyReply): WarmView | string {
  const done = view.state === 'completed' || view.state === 'failed';
  void reply.status(done ? 200 : 202);
  if (/^text\/plain\b/.test(request.headers.accept ?? '')) {
    void reply.type('text/plain; charset=utf-8');
    return `${view.summary}\n`;
  }
  return view;
}
