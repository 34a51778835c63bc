import { Global, Module, type Provider } from '@nestjs/common';
import {
  PrometheusModule,
  getToken,
  makeCounterProvider,
  makeGaugeProvider,
} from '@willsoto/nestjs-prometheus';
import { collectBatched } from './batched-counter';
import { BucketHistogram } from './bucket-histogram';
import { METRICS, type MetricDefinition } from './metric-names';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

function providerOf(metric: MetricDefinition): Provider {
  const options = { name: metric.name, help: metric.help, labelNames: [...metric.labels] };
  switch (metric.type) {
    case 'counter':
      return makeCounterProvider({ ...options, collect: collectBatched });
    case 'gauge':
      return makeGaugeProvider(options);
    case 'histogram':
      return {
        provide: getToken(metric.name),
        useFactory: () => BucketHistogram.of({ ...options, buckets: metric.buckets ?? [] }),
      };
  }
}

/** Both apps expose these at GET /metrics with the default Node process metrics. */
@Global()
@Module({
  imports: [
    PrometheusModule.register({
      path: '/metrics',
      // Event-loop lag sampled every 100 ms, not 10: the 10 ms timer was half of an idle app's CPU.
      defaultMetrics: { enabled: true, config: { eventLoopMonitoringPrecision: 100 } },
      controller: MetricsController,
    }),
  ],
  providers: [...Object.values(METRICS).map(providerOf), MetricsService],
  exports: [MetricsService],
})
export class MetricsModule {}
