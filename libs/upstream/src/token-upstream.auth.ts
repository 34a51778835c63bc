import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import type { ProxyRemoteConfig } from '@app/config';
import { type BearerChallenge, parseBearerChallenge } from './bearer-challenge';
import { httpRequest } from './http-request';
import { type UpstreamAuth, basicAuthorization } from './upstream-auth';
import { UpstreamError } from './upstream-error';

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** Tokens are dropped this long before the expiry the token service gave. */
const EXPIRY_MARGIN_MS = 10_000;
const DEFAULT_TOKEN_SECONDS = 60;
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
const MAX_CACHED_TOKENS = 10_000;

/**
 * Upstream credentials: basic auth when the remote has a username, and the registry bearer-token
 * flow (a 401 with `WWW-Authenticate: Bearer realm=…` → token from the realm, with the remote's
 * credentials when it has some → retry), tokens cached per remote and scope until they expire.
 * The realm may be on another host: that is the one place besides base_url that the remote's
 * credentials go (docs/CACHING.md).
 */
@Injectable()
export class TokenUpstreamAuth implements UpstreamAuth, OnApplicationShutdown {
  private readonly logger = new Logger(TokenUpstreamAuth.name);
  private readonly tokens = new Map<string, CachedToken>();
  private readonly realms = new Map<string, BearerChallenge>();
  private readonly agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };

  async authorization(
    remote: ProxyRemoteConfig,
    scope: string | undefined,
  ): Promise<string | null> {
    const cached = this.tokens.get(tokenKey(remote, scope));
    if (cached && cached.expiresAt > Date.now()) {
      return `Bearer ${cached.value}`;
    }
    const realm = this.realms.get(remote.name);
    if (realm && scope) {
      // The realm is known from an earlier challenge: get the token first, saving a 401.
      return `Bearer ${await this.fetchToken(remote, realm, scope)}`;
    }
    return basicAuthorization(remote);
  }

  async handleChallenge(
    remote: ProxyRemoteConfig,
    header: string | undefined,
    scope: string | undefined,
  ): Promise<boolean> {
    const challenge = parseBearerChallenge(header);
    if (!challenge) {
      return false;
    }
    this.realms.set(remote.name, challenge);
    await this.fetchToken(remote, challenge, scope ?? challenge.scope ?? undefined);
    return true;
  }

  private async fetchToken(
    remote: ProxyRemoteConfig,
    challenge: BearerChallenge,
    scope: string | undefined,
  ): Promise<string> {
    const url = new URL(challenge.realm);
    if (challenge.service) {
      url.searchParams.set('service', challenge.service);
    }
    if (scope) {
      url.searchParams.set('scope', scope);
    }
    const headers: Record<string, string> = { 'user-agent': 'artifact-cache' };
    const basic = basicAuthorization(remote);
    if (basic) {
      headers.authorization = basic;
    }
    const timeoutMs = remote.upstreamTimeout * 1000;
    let response;
    try {
      response = await httpRequest(url, {
        method: 'GET',
        headers,
        agent: url.protocol === 'https:' ? this.agents.https : this.agents.http,
        headersTimeoutMs: timeoutMs,
        idleTimeoutMs: timeoutMs,
      });
    } catch (error) {
      throw new UpstreamError(
        'unreachable',
        `token service ${url.origin} unreachable: ${(error as Error).message}`,
      );
    }
    const body = await readSmall(response.body);
    if (response.status !== 200) {
      // 5xx/429 are worth a retry; a refusal (401/403) is the remote's credentials.
      throw new UpstreamError(
        'status',
        `token service ${url.origin} answered ${response.status}`,
        response.status,
      );
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new UpstreamError(
        'status',
        `token service ${url.origin} sent something that is not JSON`,
        502,
      );
    }
    const token = typeof parsed.token === 'string' ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new UpstreamError('status', `token service ${url.origin} sent no token`, 502);
    }
    const seconds =
      typeof parsed.expires_in === 'number' && parsed.expires_in > 0
        ? parsed.expires_in
        : DEFAULT_TOKEN_SECONDS;
    if (this.tokens.size >= MAX_CACHED_TOKENS) {
      this.tokens.clear();
    }
    this.tokens.set(tokenKey(remote, scope), {
      value: token,
      expiresAt: Date.now() + seconds * 1000 - EXPIRY_MARGIN_MS,
    });
    this.logger.debug(`token for ${remote.name} ${scope ?? '(no scope)'} valid ${seconds} s`);
    return token;
  }

  onApplicationShutdown(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function tokenKey(remote: ProxyRemoteConfig, scope: string | undefined): string {
  return `${remote.name}\0${scope ?? ''}`;
}

async function readSmall(body: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_TOKEN_RESPONSE_BYTES) {
      throw new UpstreamError('status', 'token response too large', 502);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
