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
      // Fastify destroys the body when the gateway hangs up, which closes the reader's descriptor.
      body = await attempt.spool.openReader('released');
    } catch {
      throw new NotFoundException('in-flight fetch already ended');
    }
    // Not awaited: a Fastify reply is thenable and would reject when the fetch fails mid-body;
    // Fastify then cuts the connection, which is the signal the gateway needs.
    void reply
      .header('content-type', 'application/octet-stream')
      .header('cache-control', 'no-store')
      .send(body);
  }
}
