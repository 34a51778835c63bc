/**
 * The production shape of docker-compose.yml from local binaries, without Docker
 * (tools/topology.ts), in the foreground:
 *
 *   node -r ts-node/register/transpile-only scripts/local-topology.ts up [--config FILE] \
 *     [--admin-token TOKEN] [--port N] [--prometheus-port N] [--gateways N] [--fetchers N] [--keep]
 *
 * Prints the URLs once everything answers; SIGINT or SIGTERM stops everything it started, front
 * to back. Exits non-zero when a process dies by itself. Needs the built apps (`npm run build`).
 */
import * as path from 'node:path';
import { onShutdownSignal, shuttingDown, stopAll } from '../tools/processes';
import { type Topology, type TopologyOptions, startTopology } from '../tools/topology';

const USAGE =
  'usage: local-topology.ts up [--config FILE] [--admin-token TOKEN] [--port N] ' +
  '[--prometheus-port N] [--gateways N] [--fetchers N] [--keep]';

function parseArgs(argv: string[]): TopologyOptions {
  if (argv[0] !== 'up') {
    throw new Error(USAGE);
  }
  const options: TopologyOptions = {};
  const int = (flag: string, value: string, min: number, max: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`${flag}: expected an integer from ${min} to ${max}, got ${value}`);
    }
    return n;
  };
  for (let i = 1; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) {
        throw new Error(`${flag} needs a value\n${USAGE}`);
      }
      return v;
    };
    switch (flag) {
      case '--config':
        options.configFile = value();
        break;
      case '--admin-token':
        options.adminToken = value();
        break;
      case '--port':
        options.port = int(flag, value(), 1, 65535);
        break;
      case '--prometheus-port':
        options.prometheusPort = int(flag, value(), 1, 65535);
        break;
      case '--gateways':
        options.gateways = int(flag, value(), 1, 16);
        break;
      case '--fetchers':
        options.fetchers = int(flag, value(), 1, 16);
        break;
      case '--keep':
        options.keep = true;
        break;
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  return options;
}

async function cli(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const say = (text: string): void => void process.stdout.write(`local-topology: ${text}\n`);
  const starting = new AbortController();
  const up: { topology?: Topology } = {};
  onShutdownSignal(async () => {
    say('stopping');
    starting.abort();
    await (up.topology?.stop() ?? stopAll());
  });
  const t = (up.topology = await startTopology({ ...options, log: say, signal: starting.signal }));
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
      `  logs           ${path.join(t.dir, 'logs')}${options.keep ? ' (kept after stop)' : ''}`,
      '',
      `try: curl -s ${t.url}/ ; curl -s ${t.prometheusUrl}/api/v1/query --data-urlencode 'query=up'`,
      'Ctrl-C (SIGINT) or SIGTERM stops everything.',
      '',
    ].join('\n'),
  );
  const gone = await t.firstExit;
  if (shuttingDown()) {
    return;
  }
  process.stderr.write(
    `local-topology: ${gone.name} (pid ${gone.pid}) exited by itself${gone.tail()}\n`,
  );
  await t.stop();
  process.exit(1);
}

cli(process.argv.slice(2)).catch(async (error: unknown) => {
  if (!shuttingDown()) {
    process.stderr.write(
      `local-topology: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    await stopAll();
    process.exit(1);
  }
});
