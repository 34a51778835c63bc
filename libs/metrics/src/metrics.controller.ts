import { Controller, Get, Res } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { FastifyReply } from 'fastify';
import { register } from 'prom-client';
import { clusterMetrics, isClusterWorker } from './cluster-metrics';

/** GET /metrics: this process's registry, or in a gateway cluster the sum of every process's. */
@Controller()
export class MetricsController extends PrometheusController {
  @Get()
  override async index(@Res({ passthrough: true }) response: FastifyReply): Promise<string> {
    if (!isClusterWorker()) {
      return super.index(response);
    }
    void response.header('Content-Type', register.contentType);
    return clusterMetrics();
  }
}
