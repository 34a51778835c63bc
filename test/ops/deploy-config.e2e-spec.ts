import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadAppConfig } from '@app/config';

const ROOT = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
}

/** The secrets an operator puts in `.env` (docs/OPERATIONS.md). */
const SECRETS: Readonly<Record<string, string>> = {
  POSTGRES_PASSWORD: 'pg-secret',
  S3_SECRET_ACCESS_KEY: 's3-secret',
  MINIO_ROOT_PASSWORD: 'minio-secret',
  GRAFANA_ADMIN_PASSWORD: 'grafana-secret',
};

/**
 * Compose's variable interpolation: `${VAR:-default}` and `${VAR-default}` give the variable or
 * the default, `${VAR:?message}` the variable or an error with the message (compose refuses to
 * start), `${VAR}` the variable or '', `$$` is a literal `$`.
 */
function interpolate(value: string, env: Readonly<Record<string, string>> = SECRETS): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|:\?([^}]*))?\}/g,
    (
      match,
      name: string | undefined,
      dash: string | undefined,
      fallback: string | undefined,
      required: string | undefined,
    ) => {
      if (match === '$$') {
        return '$';
      }
      const given = env[name ?? ''];
      if (required !== undefined) {
        if (!given) {
          throw new Error(`${name}: ${required}`);
        }
        return given;
      }
      return given ?? (dash ? (fallback ?? '') : '');
    },
  );
}

function loadCompose(): Record<string, ComposeService> {
  // Compose files use YAML merge keys (`<<: *app`), a YAML 1.1 feature.
  const doc = parse(read('docker-compose.yml'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  return doc.services;
}

function envOf(
  service: ComposeService,
  env: Readonly<Record<string, string>> = SECRETS,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([key, value]) => [
      key,
      interpolate(String(value ?? ''), env),
    ]),
  );
}

/**
 * docker-compose.yml and deploy/ cannot run here (no Docker engine); these checks keep them
 * consistent with the apps and with each other. test/ops/topology.e2e-spec.ts runs the same
 * nginx proxy settings, Prometheus jobs, alert rules and dashboard queries for real.
 */
describe('docker-compose.yml and deploy/ configs', () => {
  const services = loadCompose();
  const names = Object.keys(services);
  const gateways = names.filter((n) => /^gateway-\d+$/.test(n));
  const fetchers = names.filter((n) => /^fetcher-\d+$/.test(n));

  it('has the production shape: MinIO and its init, Redis, Postgres, 2+2 apps, nginx, monitoring', () => {
    expect(names).toEqual(
      expect.arrayContaining([
        'minio',
        'minio-init',
        'redis',
        'postgres',
        'nginx',
        'prometheus',
        'grafana',
      ]),
    );
    expect(gateways).toHaveLength(2);
    expect(fetchers).toHaveLength(2);
    for (const name of [...gateways, ...fetchers]) {
      // One image, one build; the command picks the app, and the built entry point exists.
      expect(services[name].image).toBe(services[gateways[0]].image);
      expect(services[name].build).toBe('.');
      const kind = name.startsWith('gateway') ? 'gateway' : 'fetcher';
      // The same command line (Node flags included) as `npm run start:<app>`.
      const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> })
        .scripts;
      expect(services[name].command).toEqual(scripts[`start:${kind}`].split(' '));
      const entry = services[name].command?.at(-1) ?? '';
      expect(entry).toBe(`dist/apps/${kind}/src/main.js`);
      expect(existsSync(join(ROOT, entry))).toBe(true);
      expect(services[name].volumes).toContain('./config/remotes.yaml:/app/config/remotes.yaml:ro');
    }
  });

  it("runs the Dockerfile's default app with the command line of npm run start:gateway", () => {
    const cmd = /^CMD (\[.*\])$/m.exec(read('Dockerfile'))?.[1];
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> })
      .scripts;
    expect(JSON.parse(cmd ?? 'null')).toEqual(scripts['start:gateway'].split(' '));
  });

  it('refuses to start without its secrets: no placeholder password is ever deployed', () => {
    const text = read('docker-compose.yml');
    expect(text).not.toMatch(/change-me/);
    for (const name of Object.keys(SECRETS)) {
      const uses = [...text.matchAll(new RegExp(`\\$\\{${name}([^}]*)\\}`, 'g'))].map((m) => m[1]);
      expect({ name, uses: uses.length > 0 }).toEqual({ name, uses: true });
      for (const use of uses) {
        expect({ name, use }).toEqual({ name, use: expect.stringMatching(/^:\?/) });
      }
    }
    expect(() => envOf(services['fetcher-1'], {})).toThrow(/^POSTGRES_PASSWORD: set/);
  });

  it('gives every app an environment the config loader accepts, with S3 storage', () => {
    for (const name of [...gateways, ...fetchers]) {
      const env: Record<string, string> = {
        ...envOf(services[name]),
        // the mounted file, as the container sees it, is this one
        ARTIFACT_CONFIG: join(ROOT, 'config/remotes.yaml'),
      };
      for (const key of [
        'HOST',
        'PORT',
        'FETCHER_PORT',
        'REDIS_URL',
        'DATABASE_URL',
        'STORAGE_DRIVER',
        'S3_ENDPOINT',
        'S3_BUCKET',
        'S3_REGION',
        'S3_ACCESS_KEY_ID',
        'S3_SECRET_ACCESS_KEY',
        'S3_FORCE_PATH_STYLE',
      ]) {
        expect({ name, key, set: (env[key] ?? '') !== '' }).toEqual({ name, key, set: true });
      }
      const config = loadAppConfig(env);
      expect(config.storage).toMatchObject({
        driver: 's3',
        endpoint: 'http://minio:9000',
        forcePathStyle: true,
      });
      expect(config.redis).toEqual({ mode: 'standalone', url: 'redis://redis:6379' });
      expect(new URL(config.databaseUrl).host).toBe('postgres:5432');
    }
  });

  it('has each fetcher advertise its own compose address and spool on its own volume', () => {
    const advertised = fetchers.map((name) => {
      const env = envOf(services[name]);
      expect(env.FETCHER_ADVERTISE_URL).toBe(`http://${name}:${env.FETCHER_PORT}`);
      expect(env.TMPDIR).toBe('/var/spool/artifactcache');
      expect(services[name].volumes).toContain(`${name}-spool:/var/spool/artifactcache`);
      return env.FETCHER_ADVERTISE_URL;
    });
    expect(new Set(advertised).size).toBe(fetchers.length);
  });

  it('gives every long-running service a health check and valid dependencies', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name !== 'minio-init') {
        expect({ name, healthcheck: Boolean(service.healthcheck?.test) }).toEqual({
          name,
          healthcheck: true,
        });
      }
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        expect(names).toContain(dependency);
      }
    }
    expect(services['minio-init'].depends_on?.minio.condition).toBe('service_healthy');
    expect(services[fetchers[0]].depends_on?.['minio-init'].condition).toBe(
      'service_completed_successfully',
    );
  });

  it('mounts files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('./')) {
          expect({ name, source, exists: existsSync(join(ROOT, source)) }).toEqual({
            name,
            source,
            exists: true,
          });
        }
      }
    }
  });

  it('balances over exactly the gateway services, and nginx accepts the config', () => {
    const conf = read('deploy/nginx/nginx.conf');
    const servers = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => m[1]);
    expect(servers.sort()).toEqual([...gateways].sort());

    // nginx -t resolves upstream host names, so the compose names become loopback here.
    const dir = mkdtempSync(join(tmpdir(), 'artifactcache-nginx-conf-'));
    try {
      let local = conf
        .replace(/\/var\/log\/nginx\//g, `${dir}/`)
        .replace('/var/run/nginx.pid', join(dir, 'nginx.pid'))
        .replace(
          '/etc/nginx/artifact-cache-proxy.conf',
          join(ROOT, 'deploy/nginx/artifact-cache-proxy.conf'),
        );
      for (const gateway of gateways) {
        local = local.replace(`server ${gateway}:`, 'server 127.0.0.1:');
      }
      local = local.replace(
        'http {',
        `http {\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;`,
      );
      writeFileSync(join(dir, 'nginx.conf'), local);
      const nginx = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
      const result = spawnSync(
        nginx,
        ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
        { encoding: 'utf8' },
      );
      expect({ status: result.status, output: result.stderr }).toMatchObject({ status: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scrapes exactly the app services in Prometheus, and loads the Grafana provisioning', () => {
    const prom = parse(read('deploy/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = (job: string) =>
      prom.scrape_configs
        .find((c) => c.job_name === job)!
        .static_configs.flatMap((s) => s.targets)
        .sort();
    expect(targets('gateway')).toEqual(gateways.map((g) => `${g}:8080`).sort());
    expect(targets('fetcher')).toEqual(fetchers.map((f) => `${f}:8081`).sort());
    expect(services.prometheus.volumes).toEqual(
      expect.arrayContaining(
        prom.rule_files.map((f) => `./deploy/prometheus/${f}:/etc/prometheus/${f}:ro`),
      ),
    );

    const datasources = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { type: string; url: string }[];
    };
    expect(datasources.datasources[0]).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
    });
    const providers = parse(read('deploy/grafana/provisioning/dashboards/artifact-cache.yml')) as {
      providers: { options: { path: string } }[];
    };
    expect(services.grafana.volumes).toContain(
      `./deploy/grafana/dashboards:${providers.providers[0].options.path}:ro`,
    );
    const dashboard = JSON.parse(read('deploy/grafana/dashboards/artifact-cache.json')) as {
      uid: string;
      panels: { title: string }[];
    };
    expect(dashboard.uid).toBe('artifact-cache');
    expect(dashboard.panels.map((p) => p.title)).toEqual(
      expect.arrayContaining([
        'Hit ratio per remote',
        'Bytes served by source',
        'Request latency p50 / p99 by route',
        'Fetch duration p50 / p99 by remote',
        'Fetch failures',
        'Stale serves',
        'Queue depth by state',
        'Requests by status class, 5xx per remote',
      ]),
    );
  });

  it('builds an image from files the build context keeps', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const copied = [...read('Dockerfile').matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      m[1].split(/\s+/),
    );
    for (const source of copied) {
      expect({ source, exists: existsSync(join(ROOT, source)) }).toEqual({ source, exists: true });
      const top = source.split('/')[0];
      const excluded = ignored.includes(top) && !ignored.includes(`!${source}`);
      expect({ source, excluded }).toEqual({ source, excluded: false });
    }
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.data']));
  });
});
