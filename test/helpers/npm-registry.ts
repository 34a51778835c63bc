import { mkdir, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  type Managed,
  type CommandResult,
  runCommand,
  startProcess,
  waitUntilReady,
} from '../../tools/processes';
import { HOST, answers, freePort } from '../../tools/ports';
import { scratchDir } from './isolated-services';

const VERDACCIO = join(__dirname, '../../node_modules/verdaccio/bin/verdaccio');

/**
 * verdaccio (a real npm registry, from the npm registry) on loopback, with its own storage: the
 * tests publish packages to it with the npm CLI and use it as an npm remote's upstream.
 */
export class Verdaccio {
  private process: Managed | null = null;
  private token = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  static async start(): Promise<Verdaccio> {
    const registry = new Verdaccio(await freePort(), await scratchDir('verdaccio'));
    await writeFile(
      join(registry.dir, 'config.yaml'),
      JSON.stringify({
        storage: join(registry.dir, 'storage'),
        auth: { htpasswd: { file: join(registry.dir, 'htpasswd'), max_users: 10 } },
        uplinks: {},
        packages: { '**': { access: '$all', publish: '$authenticated' } },
        log: { type: 'stdout', format: 'pretty', level: 'warn' },
      }),
    );
    await registry.run();
    const created = await fetch(`${registry.url}/-/user/org.couchdb.user:publisher`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'publisher', password: 'publisher-secret' }),
      signal: AbortSignal.timeout(10_000),
    });
    registry.token = ((await created.json()) as { token: string }).token;
    return registry;
  }

  private async run(): Promise<void> {
    this.process = await startProcess(
      'verdaccio',
      process.execPath,
      [VERDACCIO, '--config', join(this.dir, 'config.yaml'), '--listen', `${HOST}:${this.port}`],
      { env: { PATH: process.env.PATH, HOME: this.dir }, logFile: join(this.dir, 'verdaccio.log') },
    );
    await waitUntilReady(this.process, `verdaccio on ${this.url}`, () =>
      answers(`${this.url}/-/ping`, (status) => status === 200),
    );
  }

  async stop(): Promise<void> {
    await this.process?.stop();
    this.process = null;
  }

  /** Publishes a package whose `index.js` exports `value`, with the npm CLI. */
  async publish(
    name: string,
    version: string,
    value: string,
    dependencies: Record<string, string> = {},
  ): Promise<void> {
    const dir = join(this.dir, 'packages', `${name.replace('/', '__')}-${version}`);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name, version, main: 'index.js', dependencies }),
    );
    await writeFile(join(dir, 'index.js'), `module.exports = ${JSON.stringify(value)};\n`);
    const npmrc = join(dir, '.npmrc');
    const host = `//${HOST}:${this.port}/`;
    await writeFile(npmrc, `registry=${this.url}/\n${host}:_authToken=${this.token}\n`);
    await npm(['publish', '--userconfig', npmrc, '--registry', `${this.url}/`], dir);
  }
}

/**
 * A reverse proxy in front of a registry that records what it was asked and can answer a path
 * with other bytes (a corrupted upstream). Registries write their own host into tarball links,
 * so clients of the proxy are sent back to it.
 */
export class RecordingProxy {
  readonly gets: string[] = [];
  private readonly replaced = new Map<string, Buffer>();
  private server: http.Server | null = null;
  port = 0;

  constructor(private readonly target: () => string) {}

  get url(): string {
    return `http://${HOST}:${this.port}`;
  }

  /** GETs of `path` (as sent, still encoded) so far. */
  count(path: string): number {
    return this.gets.filter((asked) => asked === path).length;
  }

  /** `path` is answered 200 with `body` instead of the registry's bytes. */
  replace(path: string, body: Buffer): void {
    this.replaced.set(path, body);
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const path = req.url ?? '/';
      if (req.method === 'GET') {
        this.gets.push(path);
      }
      const replacement = this.replaced.get(path);
      if (replacement) {
        res.writeHead(200, { 'content-length': replacement.length });
        res.end(replacement);
        return;
      }
      const upstream = http.request(
        new URL(path, this.target()),
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.once('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(this.port, HOST, resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

/**
 * The npm CLI with no configuration of its own and its cache in `dir`/.npm-cache (empty for a
 * new dir), so what it installs comes from `--registry`.
 */
export function npm(args: string[], cwd: string): Promise<CommandResult> {
  return runCommand(
    'npm',
    [
      ...args,
      '--cache',
      join(cwd, '.npm-cache'),
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
    ],
    {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: cwd,
        npm_config_userconfig: join(cwd, '.npmrc-none'),
        npm_config_globalconfig: join(cwd, '.npmrc-global-none'),
        npm_config_fetch_retries: '0',
        npm_config_fetch_timeout: '30000',
      },
      timeoutMs: 120_000,
    },
  );
}
