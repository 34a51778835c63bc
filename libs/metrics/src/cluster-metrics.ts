import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';

const REQUEST = 'ac:cluster-metrics-request';
const ANSWER = 'ac:cluster-metrics-answer';
/** A worker's /metrics waits this long for the primary's sum of every worker. */
const ANSWER_TIMEOUT_MS = 5000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: string;
}

interface MetricsAnswer {
  type: typeof ANSWER;
  id: string;
  text?: string;
  error?: string;
}

/**
 * The primary's half of /metrics across gateway processes: a scrape reaches one worker, which
 * asks the primary; the primary collects every worker's registry (prom-client's cluster
 * protocol) and answers with their sum, so counters never jump between scrapes.
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) {
      return;
    }
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: ANSWER, id: message.id, text } satisfies MetricsAnswer),
      (error: Error) =>
        worker.send({ type: ANSWER, id: message.id, error: error.message } satisfies MetricsAnswer),
    );
  });
}

/**
 * Makes this worker answer the primary's collection requests (prom-client installs that
 * listener when a process creates an AggregatorRegistry).
 */
export function answerClusterMetrics(): void {
  new AggregatorRegistry();
}

/** A worker's half: the metrics of every gateway process, summed by the primary. */
export function clusterMetrics(): Promise<string> {
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error(`no metrics from the cluster's primary within ${ANSWER_TIMEOUT_MS} ms`));
    }, ANSWER_TIMEOUT_MS);
    const onMessage = (message: unknown): void => {
      if (!isMessage<MetricsAnswer>(message, ANSWER) || message.id !== id) {
        return;
      }
      clearTimeout(timer);
      process.off('message', onMessage);
      if (message.text === undefined) {
        reject(new Error(message.error ?? 'the cluster could not collect metrics'));
      } else {
        resolve(message.text);
      }
    };
    process.on('message', onMessage);
    process.send?.({ type: REQUEST, id } satisfies MetricsRequest);
  });
}

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as T).type === type;
}
