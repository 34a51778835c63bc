/**
 * A tiny token service (the Docker Registry v2 token flow) for a docker-registry started with
 * `auth: token`: it checks HTTP basic credentials and answers `GET /token?service=…&scope=…` with
 * an RS256 JWT the registry accepts (distribution `registry/auth/token/token.go`: the header's
 * `x5c` chain must end in a certificate of `rootcertbundle`, `aud` must equal the registry's
 * `service` and, in distribution 2.8, be a string, `iss` its `issuer`). The key and a self-signed
 * certificate are made at start with the openssl CLI; every request is recorded so a test can
 * check that a cached pull did not ask for a token again.
 */
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runCommand } from '../../tools/processes';
import { requireEnv } from './isolated-services';

export interface TokenIssuerOptions {
  /** the only account that gets a token (default `tester` / `secret-pass`) */
  username?: string;
  password?: string;
  /** anonymous requests get a pull-only token (default false: 401) */
  allowAnonymous?: boolean;
  /** the registry's `auth.token.service` (the JWT's `aud`) */
  service?: string;
  /** the registry's `auth.token.issuer` (the JWT's `iss`) */
  issuer?: string;
  /** lifetime of a token in seconds (default 300) */
  expiresIn?: number;
}

export interface TokenRequest {
  method: string;
  /** path and query as received */
  url: string;
  service: string | null;
  /** `repository:<name>:<actions>` as asked for */
  scopes: string[];
  /** the basic-auth user, or null for an anonymous request */
  user: string | null;
  status: number;
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export class TokenIssuer {
  readonly requests: TokenRequest[] = [];
  readonly username: string;
  readonly password: string;
  readonly service: string;
  readonly issuer: string;
  private server: http.Server | null = null;
  private port = 0;

  private constructor(
    private readonly options: TokenIssuerOptions,
    /** PEM certificate to give the registry as `rootcertbundle` */
    readonly certFile: string,
    private readonly key: KeyObject,
    /** base64 DER of the certificate, the JWT header's `x5c` */
    private readonly certDer: string,
  ) {
    this.username = options.username ?? 'tester';
    this.password = options.password ?? 'secret-pass';
    this.service = options.service ?? 'artifactcache-test-registry';
    this.issuer = options.issuer ?? 'artifactcache-test-issuer';
  }

  static async start(options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
    const parent = join(requireEnv('TEST_TMP_DIR'), 'token-issuers');
    await mkdir(parent, { recursive: true });
    const dir = await mkdtemp(join(parent, `${process.pid}-`));
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await runCommand('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=artifactcache-test-token-issuer',
    ]);
    const key = createPrivateKey(await readFile(keyFile));
    const certPem = await readFile(certFile, 'utf8');
    const certDer = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    const issuer = new TokenIssuer(options, certFile, key, certDer);
    await issuer.listen();
    return issuer;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** the registry's `auth.token.realm` */
  get realm(): string {
    return `${this.url}/token`;
  }

  /** requests that got a token */
  get issued(): number {
    return this.requests.filter((r) => r.status === 200).length;
  }

  /** A token for `user` (for direct requests against the registry in tests). */
  token(user: string | null, access: AccessEntry[]): string {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [this.certDer] };
    const claims = {
      iss: this.issuer,
      sub: user ?? '',
      aud: this.service,
      exp: now + (this.options.expiresIn ?? 300),
      // a second of slack: the registry and this process read the same clock, but round differently
      nbf: now - 1,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), this.key);
    return `${signingInput}.${base64url(signature)}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) {
      return;
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async listen(): Promise<void> {
    const server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.destroy(error instanceof Error ? error : new Error(String(error)));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  private async handle(
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<void> {
    const url = new URL(request.url ?? '/', this.url);
    // The OAuth2 form (POST with grant_type=password) is what containerd may use; the cache may too.
    let params = url.searchParams;
    let credentials = basicCredentials(request.headers.authorization);
    if (request.method === 'POST') {
      const body = await readSmallBody(request);
      params = new URLSearchParams(body);
      if (params.get('grant_type') === 'password') {
        credentials = {
          user: params.get('username') ?? '',
          password: params.get('password') ?? '',
        };
      }
    }
    const scopes = params.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
    const record: TokenRequest = {
      method: request.method ?? '',
      url: request.url ?? '',
      service: params.get('service'),
      scopes,
      user: credentials?.user ?? null,
      status: 0,
    };
    this.requests.push(record);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };

    if (url.pathname !== '/token' || (request.method !== 'GET' && request.method !== 'POST')) {
      answer(404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
      return;
    }
    if (params.get('service') !== null && params.get('service') !== this.service) {
      answer(400, { errors: [{ code: 'UNSUPPORTED', message: 'unknown service' }] });
      return;
    }
    let actionsAllowed: string[];
    if (credentials) {
      if (credentials.user !== this.username || credentials.password !== this.password) {
        answer(
          401,
          { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] },
          { 'WWW-Authenticate': 'Basic realm="token"' },
        );
        return;
      }
      actionsAllowed = ['pull', 'push', 'delete'];
    } else if (this.options.allowAnonymous) {
      actionsAllowed = ['pull'];
    } else {
      answer(
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        { 'WWW-Authenticate': 'Basic realm="token"' },
      );
      return;
    }
    const access = scopes.flatMap((scope): AccessEntry[] => {
      // repository:<name>:<actions>; a name may hold a port-less host and slashes, never a colon.
      const match = /^([a-z]+)(?:\(([a-z]+)\))?:([^:]+):([a-z*,]+)$/.exec(scope);
      if (!match) {
        return [];
      }
      const actions = match[4].split(',').filter((a) => actionsAllowed.includes(a));
      return actions.length > 0 ? [{ type: match[1], name: match[3], actions }] : [];
    });
    const token = this.token(credentials?.user ?? null, access);
    answer(200, {
      token,
      access_token: token,
      expires_in: this.options.expiresIn ?? 300,
      issued_at: new Date().toISOString(),
    });
  }
}

function basicCredentials(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) {
    return null;
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1
    ? { user: decoded, password: '' }
    : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function readSmallBody(request: http.IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) {
    body += (chunk as Buffer).toString('utf8');
    if (body.length > 64 * 1024) {
      throw new Error('token request body over 64 KiB');
    }
  }
  return body;
}
