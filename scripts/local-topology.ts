/**
 * docker-compose.yml's production shape from local binaries (tools/topology.ts), in the
 * foreground; needs the built apps (`npm run build`):
 *
 *   node -r ts-node/register/transpile-only scripts/local-topology.ts up [--config FILE] \
 *     [--admin-token TOKEN] [--port N] [--prometheus-port N] [--gateways N] [--fetchers N] [--keep]
 *
 * Prints the URLs once everything answers. SIGINT or SIGTERM stops everything, front to back; a
 * process that dies by itself stops the rest and exits non-zero.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { onShutdownSignal, shuttingDown, stopAll } from '../tools/processes';
import { type Topology, startTopology } from '../tools/topology';

const say = (text: string): void => void process.stdout.write(`local-topology: ${text}\n`);

function count(flag: string, value: string | undefined, max: number): number | undefined {
  const n = Number(value);
  if (value !== undefined && !(Number.isInteger(n) && n >= 1 && n <= max)) {
    throw new Error(`--${flag}: expected an integer from 1 to ${max}, got ${value}`);
  }
  return value === undefined ? undefined : n;
}

async function cli(): Promise<void> {
  const string = { type: 'string' } as const;
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      config: string,
      'admin-token': string,
      port: string,
      'prometheus-port': string,
      gateways: string,
      fetchers: string,
      keep: { type: 'boolean' },
    },
  });
  if (positionals.join(' ') !== 'up') {
    throw new Error('usage: local-topology.ts up [--config FILE] [--admin-token TOKEN] ...');
  }
  let topology: Topology | undefined;
  onShutdownSignal(async () => {
    say('stopping');
    await (topology?.stop() ?? stopAll());
  });
  const t = (topology = await startTopology({
    configFile: values.config,
    adminToken: values['admin-token'],
    port: count('port', values.port, 65535),
    prometheusPort: count('prometheus-port', values['prometheus-port'], 65535),
    gateways: count('gateways', values.gateways, 16),
    fetchers: count('fetchers', values.fetchers, 16),
    keep: values.keep,
    log: say,
  }));
  process.stdout.write(
    [
      '',
      `  cache (nginx)  ${t.url}`,
      `  gateways       ${t.gatewayUrls.join('  ')}`,
      `  fetchers       ${t.fetcherUrls.join('  ')}`,
      `  prometheus     ${t.prometheusUrl}   (targets: ${t.prometheusUrl}/targets, alerts: ${t.prometheusUrl}/alerts)`,
      `  redis          ${t.redisUrl}`,
      `  postgres       ${t.databaseUrl}`,
      `  s3             ${t.s3.endpoint} bucket ${t.s3.bucket}`,
      `  logs           ${join(t.dir, 'logs')}${values.keep ? ' (kept after stop)' : ''}`,
      '',
      `try: curl -s ${t.url}/ ; curl -s ${t.prometheusUrl}/api/v1/query --data-urlencode 'query=up'`,
      'Ctrl-C (SIGINT) or SIGTERM stops everything.',
      '',
    ].join('\n'),
  );
  const gone = await t.firstExit;
  if (!shuttingDown()) {
    throw new Error(`${gone.name} (pid ${gone.pid}) exited by itself${gone.tail()}`);
  }
}

cli().catch(async (error: unknown) => {
  if (!shuttingDown()) {
    process.stderr.write(
      `local-topology: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    await stopAll();
    process.exit(1);
  }
});
