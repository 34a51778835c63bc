import { Controller, Delete, HttpCode, Put, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AdminTokenGuard } from '../admin/admin-token.guard';
import { splitRemotePath } from '../http/path-guard';
import { ARTIFACT_ROUTE_PREFIX } from '@app/formats';
import { HostedService, type UploadResult } from './hosted.service';
import { uploadOf } from './upload-body';

/** PUT and DELETE of hosted files (docs/HTTP-API.md), behind the admin token. */
@Controller('api/v1/remote')
@UseGuards(AdminTokenGuard)
export class HostedController {
  constructor(private readonly hosted: HostedService) {}

  @Put(':remote/*')
  @HttpCode(201)
  put(@Req() request: FastifyRequest): Promise<UploadResult> {
    const { remote, rawPath } = splitRemotePath(
      request.raw.url ?? request.url,
      ARTIFACT_ROUTE_PREFIX,
    );
    const upload = uploadOf(request);
    return this.hosted.put(remote, rawPath, upload.body, upload.sha256);
  }

  @Delete(':remote/*')
  @HttpCode(204)
  async delete(@Req() request: FastifyRequest): Promise<void> {
    const { remote, rawPath } = splitRemotePath(
      request.raw.url ?? request.url,
      ARTIFACT_ROUTE_PREFIX,
    );
    await this.hosted.delete(remote, rawPath);
  }
}
