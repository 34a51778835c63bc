import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { HttpTimeoutError, discard, httpRequest } from './http-request';
import { UpstreamLimits } from '@app/cache';
import type { ProxyRemoteConfig } from '@app/config';
import { MetricsService } from '@app/metrics';
import { rateLimitOf } from './rate-limit';
import { answerOfError, parseRetryAfter } from './upstream-answer';
import { UpstreamGate } from './upstream-gate';
import { UpstreamHealth } from './upstream-health';
import { UPSTREAM_AUTH, type UpstreamAuth } from './upstream-auth';
import { UpstreamError } from './upstream-error';
import { sameOrigin, upstreamUrl } from './upstream-url';
import {
  type AddressClass,
  type RedirectPolicy,
  addressClass,
  guardedLookup,
  redirectAllowed,
  resolveAll,
} from './redirect-guard';

export interface UpstreamRequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** query string without '?' (tag lists' n/last) */
  query?: string;
  signal?: AbortSignal;
  /** docker: the token scope this request needs, e.g. `repository:library/alpine:pull` */
  scope?: string;
  /** another base URL of the remote's own config (a pypi remote's files_url); default base_url */
  baseUrl?: string;
}

export interface UpstreamResponse {
  status: number;
  /** lower-case names, repeated headers joined with ', ' */
  headers: Record<string, string>;
  body: Readable;
  /** the URL that answered, after redirects */
  url: string;
}

const MAX_REDIRECTS = 5;
/** How long what base_url resolves to is remembered for the redirect policy. */
const BASE_RESOLVE_TTL_MS = 60_000;

/**
 * HTTP to upstreams. Follows redirects itself so that credentials only ever go to the remote's
 * own origin (docker blobs redirect to CDNs and S3 with signed URLs of their own). Every read
 * has the remote's upstream_timeout: to get headers, and as the longest silence mid-body. Each
 * request passes the remote's gate first (its budget and its open-request slots); the slot is
 * held until the body is read or dropped, redirect hops included. Its answer moves the remote's
 * circuit breaker.
 */
@Injectable()
export class UpstreamClient implements OnApplicationShutdown {
  private readonly agents = new Map<string, { http: http.Agent; https: https.Agent }>();
  private readonly baseAddressClasses = new Map<
    string,
    { classes: AddressClass[]; until: number }
  >();

  constructor(
    @Inject(UPSTREAM_AUTH) private readonly auth: UpstreamAuth,
    private readonly metrics: MetricsService,
    private readonly gate: UpstreamGate,
    private readonly health: UpstreamHealth,
    private readonly limits: UpstreamLimits,
  ) {}

  async request(
    remote: ProxyRemoteConfig,
    path: string,
    options: UpstreamRequestOptions = {},
  ): Promise<UpstreamResponse> {
    const release = await this.gate.admit(remote, options.signal);
    try {
      const url = upstreamUrl(options.baseUrl ?? remote.baseUrl, path, options.query);
      const response = await this.send(remote, url, options, 0, false);
      await this.health.note(remote, {
        status: response.status,
        retryAfter: parseRetryAfter(response.headers['retry-after']),
      });
      if (response.body.destroyed) {
        release();
      } else {
        response.body.once('close', release);
      }
      return response;
    } catch (error) {
      release();
      if (error instanceof UpstreamError && !options.signal?.aborted) {
        await this.health.note(remote, answerOfError(error));
      }
      throw error;
    }
  }

  private async send(
    remote: ProxyRemoteConfig,
    url: URL,
    options: UpstreamRequestOptions,
    hops: number,
    challenged: boolean,
  ): Promise<UpstreamResponse> {
    const ownOrigin = sameOrigin(url, remote.baseUrl);
    const headers: Record<string, string> = { 'user-agent': 'artifact-cache', ...options.headers };
    if (ownOrigin) {
      const authorization = await this.auth.authorization(remote, options.scope);
      if (authorization) {
        headers.authorization = authorization;
      }
    }
    const timeoutMs = remote.upstreamTimeout * 1000;
    const lookup = hops > 0 && !ownOrigin ? await this.redirectLookup(remote, url) : undefined;
    const method = options.method ?? 'GET';
    let response;
    try {
      response = await httpRequest(url, {
        method,
        headers,
        signal: options.signal,
        agent: this.agentFor(remote, url),
        headersTimeoutMs: timeoutMs,
        idleTimeoutMs: timeoutMs,
        lookup,
      });
    } catch (error) {
      this.metrics.upstreamRequest(remote.name, method, null);
      throw toUpstreamError(error, url, timeoutMs);
    }
    this.metrics.upstreamRequest(remote.name, method, response.status);
    const budget = ownOrigin ? rateLimitOf(response.headers) : null;
    if (budget) {
      this.metrics.upstreamRateLimit(remote.name, budget.limit, budget.remaining);
      void this.limits.recordAdvertised(remote.name, budget.limit, budget.remaining);
    }

    const location = response.headers.location;
    if (isRedirect(response.status) && location) {
      await discard(response.body);
      if (hops >= MAX_REDIRECTS) {
        throw new UpstreamError(
          'redirect_loop',
          `more than ${MAX_REDIRECTS} redirects from ${url.origin}`,
        );
      }
      return this.send(remote, new URL(location, url), options, hops + 1, challenged);
    }
    if (response.status === 401 && ownOrigin && !challenged) {
      const retry = await this.auth.handleChallenge(
        remote,
        response.headers['www-authenticate'],
        options.scope,
      );
      if (retry) {
        await discard(response.body);
        return this.send(remote, url, options, hops, true);
      }
    }
    return {
      status: response.status,
      headers: response.headers,
      body: response.body,
      url: url.href,
    };
  }

  /**
   * A redirect off the remote's own origin may not lead inside the network (loopback, private
   * and link-local addresses: metadata services, the deployment's own storage and fetchers),
   * unless base_url is itself internal or the remote lists the host in redirect_hosts. An IP
   * literal is checked here; a host name at connect time, on the addresses the socket uses.
   */
  private async redirectLookup(
    remote: ProxyRemoteConfig,
    url: URL,
  ): Promise<http.RequestOptions['lookup']> {
    const policy: RedirectPolicy = {
      redirectHosts: remote.redirectHosts,
      baseClasses: await this.baseClasses(remote),
    };
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    const allowed = (addresses: readonly string[]) =>
      redirectAllowed(url.hostname, port, addresses, policy);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      if (!allowed([host])) {
        throw refusedRedirect(url);
      }
      return undefined;
    }
    return guardedLookup(allowed);
  }

  private async baseClasses(remote: ProxyRemoteConfig): Promise<AddressClass[]> {
    const known = this.baseAddressClasses.get(remote.name);
    if (known && known.until > Date.now()) {
      return known.classes;
    }
    const host = new URL(remote.baseUrl).hostname;
    const classes = await resolveAll(host).then(
      (addresses) => addresses.map(addressClass),
      () => [] as AddressClass[],
    );
    this.baseAddressClasses.set(remote.name, { classes, until: Date.now() + BASE_RESOLVE_TTL_MS });
    return classes;
  }

  private agentFor(remote: ProxyRemoteConfig, url: URL): http.Agent {
    let agents = this.agents.get(remote.name);
    if (!agents) {
      const options = {
        keepAlive: true,
        keepAliveMsecs: 10_000,
        maxSockets: 64,
        maxFreeSockets: 16,
      };
      agents = { http: new http.Agent(options), https: new https.Agent(options) };
      this.agents.set(remote.name, agents);
    }
    return url.protocol === 'https:' ? agents.https : agents.http;
  }

  onApplicationShutdown(): void {
    for (const agents of this.agents.values()) {
      agents.http.destroy();
      agents.https.destroy();
    }
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function refusedRedirect(url: URL): UpstreamError {
  return new UpstreamError(
    'redirect_refused',
    `a redirect to ${url.host} was refused: it resolves to an internal address (add the host to the remote's redirect_hosts if it is meant)`,
  );
}

function toUpstreamError(error: unknown, url: URL, timeoutMs: number): UpstreamError {
  if ((error as { code?: string }).code === 'EREDIRECTREFUSED') {
    return refusedRedirect(url);
  }
  if (error instanceof HttpTimeoutError) {
    return new UpstreamError('timeout', `${url.origin} did not answer within ${timeoutMs} ms`);
  }
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  return new UpstreamError('unreachable', `${url.origin} unreachable: ${code ?? message}`);
}
