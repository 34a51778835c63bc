export * from './metric-names';
export * from './metrics.module';
export * from './metrics.service';
export { answerClusterMetrics, serveClusterMetrics } from './cluster-metrics';
