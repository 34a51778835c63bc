import { Controller, Get, NotFoundException, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { InflightRegistry } from './inflight.registry';

/**
 * Internal: streams an in-flight fetch to a gateway: the bytes received so far, then the rest as
 * they arrive. The connection is cut (no chunked terminator) when the fetch fails, so a gateway
 * can tell a failed fetch from a finished one.
 */
@Controller('internal/inflight')
export class InflightController {
  constructor(private readonly registry: InflightRegistry) {}

  @Get(':attemptId')
  async stream(@Param('attemptId') attemptId: string, @Res() reply: FastifyReply): Promise<void> {
    const attempt = this.registry.get(attemptId);
    if (!attempt) {
      throw new NotFoundException('no such in-flight fetch');
    }
    let body;
    try {
      body = await attempt.spool.openReader('released');
    } catch {
      throw new NotFoundException('in-flight fetch already ended');
    }
    // Written to the socket directly, through the reader's reused buffers. A fetch that fails
    // mid-body, or a gateway that hangs up, destroys the connection: no chunked terminator is
    // the signal the gateway needs.
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'no-store',
    });
    body.sendTo(response).then(
      () => response.end(),
      () => response.destroy(),
    );
  }

  /**
   * How far the spool file may be read, a line each time that grows (`<bytes>`), then
   * `end <bytes>`: for a gateway on this host, which reads the file itself. Cut like the byte
   * stream when the fetch fails.
   */
  @Get(':attemptId/windows')
  windows(@Param('attemptId') attemptId: string, @Res() reply: FastifyReply): void {
    const attempt = this.registry.get(attemptId);
    if (!attempt) {
      throw new NotFoundException('no such in-flight fetch');
    }
    reply.hijack();
    const response = reply.raw;
    const gone = new AbortController();
    response.once('close', () => gone.abort());
    response.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
    void (async () => {
      for await (const { readable, ended } of attempt.spool.windows('released', gone.signal)) {
        response.write(ended ? `end ${readable}\n` : `${readable}\n`);
      }
      response.end();
    })().catch(() => response.destroy());
  }
}
