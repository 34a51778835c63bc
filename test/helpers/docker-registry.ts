/**
 * A real upstream registry for e2e specs: `docker-registry serve` (CNCF distribution 2.8) on a
 * free loopback port, filesystem storage under the run's temp dir, optionally behind `auth: token`
 * (see token-issuer.ts), its output (one access-log line per request) in a file that
 * `requests()` parses. Images built by oci-image.ts are pushed with skopeo.
 *
 * `Skopeo` runs skopeo with private configuration: its own registries.conf (under a private
 * HOME, see `Skopeo.create`), auth file, registries.d (signature lookaside), containers.conf,
 * blob-info cache and temp dir, and `--insecure-policy`, so nothing reads or changes the
 * machine's container settings or state (`skopeo --debug` lists every path it uses).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Managed, startProcess, waitUntilReady } from '../../tools/processes';
import { answers, freePort } from '../../tools/ports';
import { scratchDir } from './isolated-services';
import type { OciLayout } from './oci-image';
import { runCommand, type CommandResult } from '../../tools/processes';
import type { TokenIssuer } from './token-issuer';
import { waitFor } from '../../tools/wait-for';

export interface DockerRegistryOptions {
  /** `auth: token` with this issuer as realm (anonymous access is then up to the issuer) */
  tokenAuth?: TokenIssuer;
}

/** One access-log line. */
export interface RegistryRequest {
  method: string;
  /** the request URI as logged: path and query */
  uri: string;
  /**
   * the URI without its query, percent-decoded: `blobs/sha256%3A…` (how some clients send the
   * digest; the registry accepts both) counts as `blobs/sha256:…`
   */
  path: string;
  status: number;
}

// gorilla/handlers' combined log format, which distribution writes for every request:
// 127.0.0.1 - - [10/Jan/2025:10:00:00 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "skopeo/1.9.3"
const ACCESS_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /;
/** query parameter of the requests `settle()` makes; they are left out of `requests()` */
const SENTINEL = 'artifactcache-test-sentinel';

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

export class DockerRegistry {
  private process: Managed | null = null;

  private constructor(
    readonly port: number,
    /** storage, config and log live here */
    readonly dir: string,
    readonly logFile: string,
    private readonly configFile: string,
    readonly tokenAuth: TokenIssuer | undefined,
  ) {}

  static async start(options: DockerRegistryOptions = {}): Promise<DockerRegistry> {
    const dir = await scratchDir('docker-registries');
    const port = await freePort();
    const configFile = join(dir, 'config.yml');
    const issuer = options.tokenAuth;
    // JSON is YAML: no quoting rules to get wrong for paths and URLs.
    const config = {
      version: 0.1,
      log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
      storage: {
        filesystem: { rootdirectory: join(dir, 'storage') },
        delete: { enabled: true },
        // Without it a restarted test would see stale descriptors; it is per-process anyway.
        cache: { blobdescriptor: 'inmemory' },
      },
      http: { addr: `127.0.0.1:${port}`, secret: 'artifactcache-test-registry-secret' },
      ...(issuer
        ? {
            auth: {
              token: {
                realm: issuer.realm,
                service: issuer.service,
                issuer: issuer.issuer,
                rootcertbundle: issuer.certFile,
              },
            },
          }
        : {}),
    };
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const registry = new DockerRegistry(port, dir, join(dir, 'registry.log'), configFile, issuer);
    await registry.spawn();
    return registry;
  }

  /** `127.0.0.1:<port>`, as in image references */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `http://${this.host}`;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Every request the registry has logged so far, in order. */
  requests(): RegistryRequest[] {
    const out: RegistryRequest[] = [];
    for (const line of this.log().split('\n')) {
      const match = ACCESS_LINE.exec(line);
      if (match && !match[2].includes(SENTINEL)) {
        const uri = match[2];
        const q = uri.indexOf('?');
        out.push({
          method: match[1],
          uri,
          path: decodePath(q === -1 ? uri : uri.slice(0, q)),
          status: Number(match[3]),
        });
      }
    }
    return out;
  }

  /**
   * Every request so far, once the registry has logged all those that finished before this call.
   * It writes an access line just after each response, so a line can lag its request; a request
   * of our own, once logged, is after all of them.
   */
  async settle(): Promise<RegistryRequest[]> {
    const marker = `${SENTINEL}=${randomBytes(6).toString('hex')}`;
    const response = await fetch(`${this.url}/v2/?${marker}`);
    await response.arrayBuffer();
    await waitFor(() => this.log().includes(marker), {
      description: `docker-registry on ${this.url} to log ${marker}`,
      timeoutMs: 5_000,
      intervalMs: 20,
    });
    return this.requests();
  }

  /** Requests with this method whose path equals `path` (a string) or matches it (a RegExp). */
  count(method: string, path: string | RegExp): number {
    return this.requests().filter(
      (r) =>
        r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)),
    ).length;
  }

  /** GETs of blobs of `repo` (of one blob when `digest` is given). */
  blobGets(repo: string, digest?: string): number {
    const prefix = `/v2/${repo}/blobs/`;
    return this.requests().filter(
      (r) =>
        r.method === 'GET' &&
        (digest ? r.path === `${prefix}${digest}` : r.path.startsWith(prefix)),
    ).length;
  }

  /**
   * Pushes an OCI layout as `repo:tag` (tag default: the layout's). `--preserve-digests` makes
   * skopeo fail rather than rewrite a manifest, so the layout's digests are the registry's.
   */
  async push(
    skopeo: Skopeo,
    layout: OciLayout,
    repo: string,
    tag: string = layout.tag,
  ): Promise<CommandResult> {
    const creds = this.tokenAuth
      ? ['--dest-creds', `${this.tokenAuth.username}:${this.tokenAuth.password}`]
      : [];
    return skopeo.run([
      'copy',
      ...(layout.kind === 'index' ? ['--all'] : []),
      '--preserve-digests',
      '--dest-tls-verify=false',
      ...creds,
      layout.ref,
      `docker://${this.host}/${repo}:${tag}`,
    ]);
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  private async spawn(): Promise<void> {
    const registry = await startProcess(
      'docker-registry',
      'docker-registry',
      ['serve', this.configFile],
      {
        env: { PATH: process.env.PATH, HOME: this.dir },
        logFile: this.logFile,
      },
    );
    this.process = registry;
    // 200 when anonymous, 401 with a Bearer challenge under auth: token.
    await waitUntilReady(
      registry,
      `docker-registry on ${this.url} to answer /v2/`,
      () => answers(`${this.url}/v2/`, (status) => status === 200 || status === 401),
      { timeoutMs: 20_000 },
    );
  }
}

export interface SkopeoOptions {
  /** contents of the private registries.conf (default: no search registries, nothing else) */
  registriesConf?: string;
}

/** skopeo with private configuration (see the file comment). */
export class Skopeo {
  private constructor(
    readonly dir: string,
    readonly registriesConf: string,
  ) {}

  static async create(options: SkopeoOptions = {}): Promise<Skopeo> {
    const dir = await scratchDir('skopeo');
    // skopeo 1.9 (c/image 5.23) ignores CONTAINERS_REGISTRIES_CONF: it reads
    // $HOME/.config/containers/registries.conf when that exists (and then neither
    // /etc/containers/registries.conf nor /etc/containers/registries.conf.d), so that is where
    // the private file goes. The variable is set as well, for the versions that read it.
    const registriesConf = join(dir, 'home', '.config', 'containers', 'registries.conf');
    await mkdir(join(dir, 'registries.d'), { recursive: true });
    await mkdir(join(dir, 'home', '.config', 'containers', 'registries.conf.d'), {
      recursive: true,
    });
    await mkdir(join(dir, 'tmp'), { recursive: true });
    // Signatures are looked up (never written, for a pull) in a private lookaside directory.
    await writeFile(
      join(dir, 'registries.d', 'default.yaml'),
      `default-docker:\n  lookaside: file://${join(dir, 'sigstore')}\n`,
    );
    await writeFile(join(dir, 'auth.json'), '{"auths":{}}\n');
    await writeFile(join(dir, 'containers.conf'), '');
    await writeFile(
      registriesConf,
      options.registriesConf ?? 'unqualified-search-registries = []\n',
    );
    return new Skopeo(dir, registriesConf);
  }

  env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: join(this.dir, 'home'),
      XDG_CONFIG_HOME: join(this.dir, 'home', '.config'),
      XDG_RUNTIME_DIR: join(this.dir, 'home', 'run'),
      TMPDIR: join(this.dir, 'tmp'),
      CONTAINERS_REGISTRIES_CONF: this.registriesConf,
      REGISTRY_AUTH_FILE: join(this.dir, 'auth.json'),
      CONTAINERS_CONF: join(this.dir, 'containers.conf'),
      XDG_DATA_HOME: join(this.dir, 'home', '.local', 'share'),
      // As root, c/image keeps its blob-info cache in /var/lib/containers/cache, and no flag moves
      // it; with the UID that rootless Podman records for it, it uses $XDG_DATA_HOME instead.
      _CONTAINERS_ROOTLESS_UID: '65534',
    };
  }

  /** `skopeo <global flags> <args>`; rejects with skopeo's output when it fails. */
  run(args: string[], timeoutMs = 180_000): Promise<CommandResult> {
    return runCommand(
      'skopeo',
      [
        '--insecure-policy',
        '--registries.d',
        join(this.dir, 'registries.d'),
        '--tmpdir',
        join(this.dir, 'tmp'),
        ...args,
      ],
      { env: this.env(), timeoutMs },
    );
  }

  /** A new empty directory for `oci:` output. */
  async outputDir(): Promise<string> {
    return scratchDir('skopeo-out');
  }

  /** `skopeo inspect --raw`: the manifest bytes exactly as served. */
  async inspectRaw(ref: string, flags: string[] = []): Promise<string> {
    return (await this.run(['inspect', '--raw', ...flags, ref])).stdout;
  }
}
