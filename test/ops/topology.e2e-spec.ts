import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isAlive } from '../../tools/processes';
import { startTopology, type S3Settings, type Topology } from '../../tools/topology';
import { download } from '../helpers/http';
import {
  allocateRedisDatabase,
  createBucket,
  createDatabase,
  requireEnv,
} from '../helpers/isolated-services';
import { UpstreamServer, generatedSha256, generatedStream } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';

const ROOT = join(__dirname, '..', '..');
const TOKEN = 'topology-admin-token';
const MiB = 1024 * 1024;

/** Files of the generic remote: small ones and one that streams in many chunks through nginx. */
const FILES: ReadonlyArray<{ path: string; size: number }> = [
  { path: 'tools/a-1.0.tar.gz', size: 1_000 },
  { path: 'tools/b-2.1.tar.gz', size: 64 * 1024 },
  { path: 'tools/c-0.3.zip', size: 700_000 },
  { path: 'images/base.img', size: 8 * MiB },
];
const HIT_ROUNDS = 2;

/** The run's Redis, Postgres and S3 server, isolated as every stack is (test/helpers/isolated-services). */
async function isolatedServices(name: string): Promise<{
  redisUrl: string;
  databaseUrl: string;
  s3: S3Settings;
}> {
  const [redisUrl, databaseUrl, s3] = await Promise.all([
    allocateRedisDatabase(),
    createDatabase(name),
    createBucket(name.replace(/_/g, '-')),
  ]);
  return { redisUrl, databaseUrl, s3 };
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

interface PromTarget {
  labels: Record<string, string>;
  health: string;
  lastError: string;
}

interface PromRule {
  name: string;
  health: string;
  lastError?: string;
}

function put(url: string, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'PUT',
      agent: false,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/octet-stream',
        'content-length': String(size),
      },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    pipeline(generatedStream(size), req).catch(reject);
  });
}

/** Grafana's built-in and template variables, as Grafana would fill them for a query. */
function expandGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '1m')
    .replace(/\$\{remote(:[a-z]+)?\}|\$remote\b/g, '.*');
}

interface DashboardPanel {
  title?: string;
  type?: string;
  targets?: { expr?: string }[];
  panels?: DashboardPanel[];
}

function dashboardQueries(): { panel: string; expr: string }[] {
  const file = join(ROOT, 'deploy/grafana/dashboards/artifact-cache.json');
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels: DashboardPanel[] };
  const out: { panel: string; expr: string }[] = [];
  const visit = (panels: DashboardPanel[]): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr) {
          out.push({ panel: panel.title ?? '(untitled)', expr: target.expr });
        }
      }
      visit(panel.panels ?? []);
    }
  };
  visit(dashboard.panels);
  return out;
}

/**
 * docker-compose.yml's production shape from local binaries (tools/topology.ts): nginx in
 * front of two gateways, two fetchers, Redis, Postgres, S3 and Prometheus with the deploy/ configs.
 * Traffic goes through nginx only; what the operator sees comes from Prometheus's HTTP API.
 */
describe('local topology: nginx → 2 gateways, 2 fetchers, Prometheus', () => {
  const upstream = new UpstreamServer();
  let topology: Topology;
  const viaNginx = (path: string) => `${topology.url}/api/v1/remote/files/${path}`;

  const prom = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const url = new URL(`/api/v1/${path}`, topology.prometheusUrl);
    for (const [key, value] of Object.entries(params)) {
      url.searchParams.set(key, value);
    }
    const response = await fetch(url);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') {
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
    }
    return body.data;
  };
  const query = async (expr: string): Promise<PromSample[]> =>
    (await prom<{ result: PromSample[] }>('query', { query: expr })).result;
  const scalar = async (expr: string): Promise<number | null> => {
    const result = await query(expr);
    return result.length === 1 ? Number(result[0].value[1]) : null;
  };

  beforeAll(async () => {
    await upstream.start();
    for (const file of FILES) {
      upstream.set(`files/${file.path}`, { size: file.size });
    }
    const name = `topo_${process.pid}_${randomBytes(3).toString('hex')}`;
    topology = await startTopology({
      services: await isolatedServices(name),
      parentDir: requireEnv('TEST_TMP_DIR'),
      adminToken: TOKEN,
      remotesFile: {
        remotes: {
          files: { package: 'generic', base_url: `${upstream.url}/files`, upstream_timeout: 10 },
          uploads: { package: 'local' },
        },
      },
    });
  });

  afterAll(async () => {
    await topology?.stop();
    await upstream.stop();
  });

  it('answers misses, then hits, through nginx, each file fetched once upstream', async () => {
    for (const file of FILES) {
      const result = await download(viaNginx(file.path));
      expect({ path: file.path, status: result.status, complete: result.complete }).toEqual({
        path: file.path,
        status: 200,
        complete: true,
      });
      expect(result.headers['x-artifact-source']).toBe('remote');
      expect(result.size).toBe(file.size);
      expect(result.sha256).toBe(generatedSha256(file.size));
    }
    for (let round = 0; round < HIT_ROUNDS; round += 1) {
      for (const file of FILES) {
        const result = await download(viaNginx(file.path));
        expect(result.status).toBe(200);
        expect(result.headers['x-artifact-source']).toBe('cache');
        expect(result.headers['x-checksum-sha256']).toBe(generatedSha256(file.size));
        expect(result.sha256).toBe(generatedSha256(file.size));
      }
    }
    for (const file of FILES) {
      expect({ path: file.path, gets: upstream.count(`files/${file.path}`) }).toEqual({
        path: file.path,
        gets: 1,
      });
    }
  });

  it('passes a 24 MiB upload through nginx to a hosted remote', async () => {
    // nginx's default client_max_body_size (1 MiB) would answer 413 here.
    const size = 24 * MiB;
    const uploaded = await put(`${topology.url}/api/v1/remote/uploads/blobs/big.bin`, size);
    expect(uploaded.status).toBe(201);
    expect(JSON.parse(uploaded.body)).toMatchObject({ size, sha256: generatedSha256(size) });
    const fetched = await download(`${topology.url}/api/v1/remote/uploads/blobs/big.bin`);
    expect(fetched.headers['x-artifact-source']).toBe('local');
    expect(fetched.sha256).toBe(generatedSha256(size));
  });

  it('keeps /metrics off the load balancer', async () => {
    const response = await fetch(`${topology.url}/metrics`);
    await response.body?.cancel();
    expect(response.status).toBe(404);
  });

  it('Prometheus scrapes all four apps and counts the hits of both gateways', async () => {
    const targets = await waitFor(
      async () => {
        const data = await prom<{ activeTargets: PromTarget[] }>('targets');
        const apps = data.activeTargets.filter((t) => /^(gateway|fetcher)$/.test(t.labels.job));
        return apps.length === 4 && apps.every((t) => t.health === 'up') ? apps : false;
      },
      { description: 'the four app targets to be up in /api/v1/targets', timeoutMs: 30_000 },
    );
    expect(targets.map((t) => t.labels.instance).sort()).toEqual(
      [...topology.gatewayUrls, ...topology.fetcherUrls].map((u) => new URL(u).host).sort(),
    );

    const hits = HIT_ROUNDS * FILES.length;
    const seen = await waitFor(
      async () => {
        const value = await scalar('sum(artifactcache_cache_hits_total)');
        return value !== null && value >= hits ? value : false;
      },
      { description: `sum(artifactcache_cache_hits_total) to reach ${hits}`, timeoutMs: 30_000 },
    );
    expect(seen).toBe(hits);

    // Round robin: both gateways answered artifact requests, and the sum is every request.
    const perGateway = await waitFor(
      async () => {
        const result = await query(
          'sum by (instance) (artifactcache_requests_total{route="artifact", remote="files"})',
        );
        const total = result.reduce((n, s) => n + Number(s.value[1]), 0);
        return total >= (HIT_ROUNDS + 1) * FILES.length ? result : false;
      },
      { description: 'the artifact requests of both gateways in Prometheus', timeoutMs: 30_000 },
    );
    expect(perGateway).toHaveLength(2);
    for (const sample of perGateway) {
      expect(Number(sample.value[1])).toBeGreaterThan(0);
    }

    const fetched = await waitFor(
      async () => {
        const value = await scalar('sum(artifactcache_fetched_bytes_total{remote="files"})');
        const total = FILES.reduce((n, f) => n + f.size, 0);
        return value !== null && value >= total ? value : false;
      },
      { description: 'the fetchers to report the fetched bytes', timeoutMs: 30_000 },
    );
    expect(fetched).toBe(FILES.reduce((n, f) => n + f.size, 0));
    expect(await scalar('sum(artifactcache_cache_misses_total{remote="files"})')).toBe(
      FILES.length,
    );
  });

  it('evaluates every alert rule of deploy/prometheus/alerts.yml without an error', async () => {
    const rules = await waitFor(
      async () => {
        const data = await prom<{ groups: { rules: PromRule[] }[] }>('rules');
        const all = data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : false;
      },
      { description: 'every rule to be evaluated once', timeoutMs: 30_000 },
    );
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    expect(rules.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'ArtifactCacheHigh5xxRatio',
        'ArtifactCacheFetchFailures',
        'ArtifactCacheServingStale',
        'ArtifactCacheQueueBacklog',
        'ArtifactCacheTargetDown',
      ]),
    );
  });

  it('runs every query of the Grafana dashboard on the real Prometheus', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(10);
    const failures: string[] = [];
    for (const { panel, expr } of queries) {
      const expanded = expandGrafanaVariables(expr);
      expect(expanded).not.toContain('$');
      await query(expanded).catch((err: Error) => failures.push(`${panel}: ${err.message}`));
    }
    expect(failures).toEqual([]);
    // The hit ratio panel has data for the remote that saw traffic.
    const ratio = queries.find((q) => q.panel === 'Hit ratio per remote');
    expect(ratio).toBeDefined();
    // rate() needs two scrapes of the counter inside its window: poll until they are there.
    await waitFor(
      async () =>
        (await query(expandGrafanaVariables(ratio!.expr))).find((s) => s.metric.remote === 'files'),
      { description: 'the hit ratio of the files remote', timeoutMs: 20_000, intervalMs: 500 },
    );
  });

  it('passes promtool on the compose Prometheus config and the alert unit tests', () => {
    const check = spawnSync('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect({ status: check.status, output: check.stdout + check.stderr }).toMatchObject({
      status: 0,
    });
    const tests = spawnSync('promtool', ['test', 'rules', 'deploy/prometheus/alerts.test.yml'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect({ status: tests.status, output: tests.stdout + tests.stderr }).toMatchObject({
      status: 0,
    });
  });

  it('stops every process and removes its directory', async () => {
    const { processes, dir } = topology;
    // The reused Redis/Postgres/S3 belong to the run, not to the topology.
    expect(processes.map((p) => p.name).sort()).toEqual(
      ['fetcher-1', 'fetcher-2', 'gateway-1', 'gateway-2', 'nginx', 'prometheus'].sort(),
    );
    await topology.stop();
    expect(processes.filter((p) => isAlive(p.pid))).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
