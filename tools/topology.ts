/**
 * docker-compose.yml's production shape from local binaries, without Docker: Redis, Postgres,
 * s3rver (standing in for MinIO), fetchers and gateways (the built apps), nginx balancing the
 * gateways with deploy/nginx's very files, and Prometheus with deploy/prometheus's jobs and alert
 * rules. Every port is a free loopback port; every file is in one temp dir, removed on stop.
 * Used by scripts/local-topology.ts, test/ops/topology.e2e-spec.ts and the hit bench.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { type AppKind, ROOT, type S3Settings, appEnv, startApp } from './apps';
import { type Managed, findBinary, startProcess, waitUntilReady } from './processes';
import { HOST, answers, freePort } from './ports';
import { startServices } from './services';

const DEPLOY = join(ROOT, 'deploy');

export type { S3Settings } from './apps';

export interface TopologyOptions {
  /** remotes file for every app (default config/remotes.yaml) */
  configFile?: string;
  /** or the remotes file's content, written to the topology's dir */
  remotesFile?: Record<string, unknown>;
  gateways?: number;
  fetchers?: number;
  /** the gateways' ADMIN_TOKEN (default unset: admin routes answer 403) */
  adminToken?: string;
  /** more environment for every app */
  env?: Record<string, string>;
  /** Redis, Postgres and S3 to use instead of starting them */
  services?: { redisUrl: string; databaseUrl: string; s3: S3Settings };
  /** nginx's and Prometheus's ports (default: free ports) */
  port?: number;
  prometheusPort?: number;
  /** where the temp dir is made (default os.tmpdir()) */
  parentDir?: string;
  /** keep the temp dir (logs, data) after stop() */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface Topology {
  readonly dir: string;
  /** what clients use: nginx in front of the gateways */
  readonly url: string;
  readonly gatewayUrls: readonly string[];
  readonly fetcherUrls: readonly string[];
  readonly prometheusUrl: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly s3: S3Settings;
  readonly processes: readonly Managed[];
  /** settles with the first process that exits */
  readonly firstExit: Promise<Managed>;
  /** stops everything startTopology started, front to back (safe to call twice) */
  stop(): Promise<void>;
}

/** A path in an nginx config: quoted (a parent dir may have spaces). */
export function nginxQuote(value: string): string {
  if (/["\\$]/.test(value)) {
    throw new Error(`cannot use ${value} in an nginx config`);
  }
  return `"${value}"`;
}

/** Every temp path of an nginx http block, inside `dir` (the defaults are under /var/lib/nginx). */
export function nginxTempPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${nginxQuote(join(dir, kind))};`)
    .join('\n');
}

/** `text` with each pattern replaced; a pattern that no longer matches is an error. */
function rewritten(file: string, edits: [RegExp, string][]): string {
  return edits.reduce(
    (text, [pattern, replacement]) => {
      if (!pattern.test(text)) {
        throw new Error(`${file} no longer has ${pattern}: update tools/topology.ts`);
      }
      return text.replace(pattern, () => replacement);
    },
    readFileSync(file, 'utf8'),
  );
}

/** deploy/nginx/nginx.conf with this topology's addresses and paths. */
function nginxConfig(dir: string, logs: string, url: string, gateways: readonly string[]): string {
  const q = (file: string): string => nginxQuote(join(dir, file));
  const proxyConf = nginxQuote(join(DEPLOY, 'nginx/artifact-cache-proxy.conf'));
  const servers = gateways.map(
    (g) => `    server ${new URL(g).host} max_fails=3 fail_timeout=10s;`,
  );
  return rewritten(join(DEPLOY, 'nginx/nginx.conf'), [
    [/^error_log .*$/m, `error_log ${nginxQuote(join(logs, 'nginx-error.log'))} notice;`],
    [/^pid .*$/m, `pid ${q('nginx.pid')};`],
    [/^ *access_log .*$/m, `  access_log ${nginxQuote(join(logs, 'nginx-access.log'))} cache;`],
    [/^ *server_tokens .*$/m, `  server_tokens off;\n${nginxTempPaths(dir)}`],
    [/^( *server \S+:8080 .*\n)+/m, `${servers.join('\n')}\n`],
    [/^ *listen .*$/m, `    listen ${new URL(url).host};`],
    [/include \/etc\/nginx\/artifact-cache-proxy\.conf;/, `include ${proxyConf};`],
  ]);
}

interface PromConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs?: { job_name: string }[];
}

/**
 * deploy/prometheus/prometheus.yml with this topology's targets, the rule files made absolute and
 * 1 s intervals: the jobs and alert rules that run here are the ones that run in compose.
 */
function prometheusConfig(targets: Record<string, readonly string[]>): string {
  const file = join(DEPLOY, 'prometheus/prometheus.yml');
  const base = parse(readFileSync(file, 'utf8')) as PromConfig;
  const jobs = base.scrape_configs ?? [];
  const interval = { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
  return stringify({
    ...base,
    global: { ...base.global, ...interval },
    rule_files: (base.rule_files ?? []).map((rules) => resolve(dirname(file), rules)),
    scrape_configs: jobs.map((job) => {
      if (!targets[job.job_name]) {
        throw new Error(`${file}: no local targets for job ${job.job_name}`);
      }
      return {
        ...job,
        static_configs: [{ targets: targets[job.job_name].map((u) => new URL(u).host) }],
      };
    }),
  });
}

/** Promise.all that lets every promise settle first, so that stop() sees all that started. */
async function allSettled<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failed.length > 0) {
    throw new Error(failed.map((e) => e.message).join('\n'));
  }
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Starts the topology (needs `npm run build`); a failed step stops what was started. */
export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const began = Date.now();
  const log = (line: string): void =>
    options.log?.(`${line} [+${((Date.now() - began) / 1000).toFixed(1)} s]`);
  const nginxBin = findBinary('nginx', 'nginx-light');
  const prometheusBin = findBinary('prometheus', 'prometheus');
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'artifactcache-topology-'));
  // As root, Postgres runs as `postgres` and nginx's workers as `nobody`: both must enter it.
  await chmod(dir, 0o755);
  const [logs, tmp, nginxDir] = ['logs', 'tmp', 'nginx'].map((d) => join(dir, d));
  await Promise.all([logs, tmp, nginxDir].map((d) => mkdir(d)));

  const started: Managed[] = [];
  const keep = <T extends Managed>(managed: T): T => {
    started.push(managed);
    log(`${managed.name} (pid ${managed.pid})`);
    return managed;
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // Front to back, so nothing logs lost connections to what stopped before it.
      for (const tier of [/^(nginx|prometheus)/, /^gateway/, /^fetcher/, /./]) {
        const inTier = started.filter((managed) => tier.test(managed.name));
        await Promise.allSettled(inTier.map((managed) => managed.stop()));
      }
      if (!options.keep) {
        await rm(dir, { recursive: true, force: true });
      }
    })());

  try {
    let services = options.services;
    if (!services) {
      const { redis, postgres, s3 } = await startServices(dir, {
        database: 'artifactcache',
        bucket: 'artifactcache',
      });
      [redis, postgres, s3].forEach((service) => keep(service));
      services = { redisUrl: redis.url, databaseUrl: postgres.url, s3 };
    }
    const { redisUrl, databaseUrl, s3 } = services;
    let configFile = resolve(options.configFile ?? join(ROOT, 'config/remotes.yaml'));
    if (options.remotesFile) {
      configFile = join(dir, 'remotes.yaml');
      await writeFile(configFile, stringify(options.remotesFile));
    }
    const cache = { configFile, redisUrl, databaseUrl, storage: s3 };
    const extra = {
      NODE_ENV: 'production',
      // The fetchers' spool files live under TMPDIR: in the topology's dir, removed with it.
      TMPDIR: tmp,
      ADMIN_TOKEN: options.adminToken,
      ...options.env,
    };
    const app = async (kind: AppKind, index: number): Promise<string> => {
      const port = await freePort();
      const name = `${kind}-${index + 1}`;
      const started = await startApp(kind, {
        name,
        port,
        env: appEnv(kind, port, cache, extra),
        logFile: join(logs, `${name}.log`),
        // Healthy, not just listening: Redis, Postgres and storage all answer by now.
        ready: 'healthy',
      });
      return keep(started).url;
    };
    const count = (n = 2): number[] => [...Array(Math.max(1, n)).keys()];
    // All at once: a gateway needs no fetcher to start (misses wait in the queue meanwhile).
    const fetcherUrls = count(options.fetchers).map((i) => app('fetcher', i));
    const gatewayUrls = count(options.gateways).map((i) => app('gateway', i));
    const [fetchers, gateways] = await Promise.all([
      allSettled(fetcherUrls),
      allSettled(gatewayUrls),
    ]);

    const url = `http://${HOST}:${options.port ?? (await freePort())}`;
    const prometheusUrl = `http://${HOST}:${options.prometheusPort ?? (await freePort())}`;
    const nginxConf = join(nginxDir, 'nginx.conf');
    await writeFile(nginxConf, nginxConfig(nginxDir, logs, url, gateways));
    const promConf = join(dir, 'prometheus.yml');
    await writeFile(
      promConf,
      prometheusConfig({ gateway: gateways, fetcher: fetchers, prometheus: [prometheusUrl] }),
    );
    const errorLog = join(logs, 'nginx-error.log');
    // -e: the error log before the config is read (the default is /var/log/nginx/error.log).
    const nginxArgs = ['-p', nginxDir, '-c', nginxConf, '-e', errorLog, '-g', 'daemon off;'];
    // `nginx -t` names the bad line; a failed start would only show it in the error log.
    const checked = spawnSync(nginxBin, [...nginxArgs, '-t'], { encoding: 'utf8' });
    if (checked.status !== 0) {
      throw new Error(`nginx -t -c ${nginxConf} failed:\n${checked.stderr}${checked.stdout}`);
    }
    const front = async (
      name: string,
      command: string,
      args: string[],
      ready: string,
    ): Promise<void> => {
      const logFile = join(logs, `${name}.log`);
      const managed = keep(await startProcess(name, command, args, { logFile, cwd: logs }));
      const ok = (): Promise<boolean> => answers(ready, (status) => status === 200);
      await waitUntilReady(managed, `${name} on ${ready} to answer 200`, ok);
    };
    await allSettled([
      front('nginx', nginxBin, nginxArgs, `${url}/health`),
      front(
        'prometheus',
        prometheusBin,
        [
          `--config.file=${promConf}`,
          `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
          `--web.listen-address=${new URL(prometheusUrl).host}`,
          '--storage.tsdb.retention.time=1d',
        ],
        `${prometheusUrl}/-/ready`,
      ),
    ]);
    log('up');
    return {
      dir,
      url,
      gatewayUrls: gateways,
      fetcherUrls: fetchers,
      prometheusUrl,
      redisUrl,
      databaseUrl,
      s3,
      processes: started,
      stop,
      firstExit: Promise.race(started.map((managed) => managed.exited.then(() => managed))),
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
