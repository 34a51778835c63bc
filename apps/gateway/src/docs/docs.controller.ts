import { Controller, Get, Header, Param, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DOCS_PAGE_CSP, DOCS_PAGE_HTML } from './docs-page';
import { DocsService } from './docs.service';

/** The OpenAPI document of this API (docs/openapi.yaml) and a Swagger UI page for it. */
@Controller('docs')
export class DocsController {
  constructor(private readonly docs: DocsService) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', DOCS_PAGE_CSP)
  @Header('Cache-Control', 'no-cache')
  page(): string {
    return DOCS_PAGE_HTML;
  }

  @Get('openapi.json')
  @Header('Content-Type', 'application/json; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  json(): string {
    return this.docs.openApi().json;
  }

  @Get('openapi.yaml')
  @Header('Content-Type', 'application/yaml; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  yaml(): string {
    return this.docs.openApi().yaml;
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() reply: FastifyReply): FastifyReply {
    const asset = this.docs.asset(name);
    return reply
      .status(200)
      .headers({
        'content-type': asset.contentType,
        'content-length': String(asset.size),
        'cache-control': 'public, max-age=3600',
        'x-content-type-options': 'nosniff',
      })
      .send(asset.body);
  }
}
