import { Global, Module } from '@nestjs/common';
import {
  PrometheusModule,
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import { METRIC } from './metric-names';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const FETCH_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Both apps expose these at GET /metrics with the default Node process metrics. */
@Global()
@Module({
  imports: [
    PrometheusModule.register({
      path: '/metrics',
      defaultMetrics: { enabled: true },
      controller: MetricsController,
    }),
  ],
  providers: [
    makeCounterProvider({
      name: METRIC.requests,
      help: 'HTTP requests served, by remote, route, artifact source and status class',
      labelNames: ['remote', 'route', 'source', 'status'],
    }),
    makeHistogramProvider({
      name: METRIC.requestDuration,
      help: 'Time to answer a request (to the last byte), by remote and route',
      labelNames: ['remote', 'route'],
      buckets: DURATION_BUCKETS,
    }),
    makeCounterProvider({
      name: METRIC.cacheHits,
      help: 'Requests answered from storage',
      labelNames: ['remote'],
    }),
    makeCounterProvider({
      name: METRIC.cacheMisses,
      help: 'Requests that needed an upstream fetch',
      labelNames: ['remote'],
    }),
    makeCounterProvider({
      name: METRIC.staleServed,
      help: 'Expired mutable files served because the upstream could not confirm them',
      labelNames: ['remote', 'reason'],
    }),
    makeCounterProvider({
      name: METRIC.servedBytes,
      help: 'Bytes sent to clients, by remote and artifact source',
      labelNames: ['remote', 'source'],
    }),
    makeHistogramProvider({
      name: METRIC.fetchDuration,
      help: 'Upstream fetch duration, by remote and outcome',
      labelNames: ['remote', 'outcome'],
      buckets: FETCH_BUCKETS,
    }),
    makeCounterProvider({
      name: METRIC.fetchedBytes,
      help: 'Bytes downloaded from upstreams',
      labelNames: ['remote'],
    }),
    makeCounterProvider({
      name: METRIC.fetchFailures,
      help: 'Failed upstream fetches, by remote and reason',
      labelNames: ['remote', 'reason'],
    }),
    makeCounterProvider({
      name: METRIC.revalidations,
      help: 'Conditional checks of expired mutable files, by result',
      labelNames: ['remote', 'result'],
    }),
    makeGaugeProvider({
      name: METRIC.queueJobs,
      help: 'Fetch jobs in the queue, by state',
      labelNames: ['state'],
    }),
    MetricsService,
  ],
  exports: [MetricsService],
})
export class MetricsModule {}
