import { Injectable } from '@nestjs/common';
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  RequestListener,
  Server,
  ServerResponse,
} from 'node:http';
import { performance } from 'node:perf_hooks';
import { MetricsService } from '@app/metrics';
import { ArtifactsService } from '../artifacts/artifacts.service';
import { splitRemotePath } from '../http/path-guard';
import { requestIdOf } from '../http/request-id';
import { registryRouteOf } from '../http/request-labels';
import { type AccessParts, RequestLog } from '../http/request-log';
import { RegistryService } from '../registry/registry.service';
import type { PullTarget } from '../serving/pull-through.service';
import { PullThroughService } from '../serving/pull-through.service';
import { ARTIFACT_ROUTE_PREFIX } from '@app/formats';
import { sendPlan } from '../serving/reply-writer';
import type { ServePlan } from '../serving/serve-plan';

const REGISTRY_PREFIX = '/v2/';
/** Distinct URLs whose target is remembered; the map starts over when full. */
const MAX_KNOWN_URLS = 10_000;

interface KnownUrl {
  /** the URL asked for (it has no query) */
  path: string;
  target: PullTarget;
  route: string;
  /** its access lines' parts, by method, made on its first hit */
  access: { GET?: AccessParts; HEAD?: AccessParts };
}

/**
 * The hit route: a plain GET (or HEAD, from memory) of an immutable file that is cached is
 * answered here, from the raw request, before any routing: from memory when held, else from
 * storage. Everything else (a miss, a Range, a condition, a mutable file, anything this route
 * does not understand, storage failing) goes on to the full routes, which decide the same way
 * and report errors in the one place they are reported. What the URL names is worked out once per URL, by the same
 * services the full routes use.
 */
@Injectable()
export class HitRoute {
  private readonly known = new Map<string, KnownUrl>();

  constructor(
    private readonly artifacts: ArtifactsService,
    private readonly registry: RegistryService,
    private readonly pullThrough: PullThroughService,
    private readonly metrics: MetricsService,
    private readonly requestLog: RequestLog,
  ) {}

  private fullRoutes: RequestListener = () => undefined;

  /** Puts this route before the server's own request handling (the full routes). */
  attach(server: Server): void {
    const routes = server.listeners('request') as RequestListener[];
    this.fullRoutes = (request, response) => {
      for (const route of routes) {
        route.call(server, request, response);
      }
    };
    server.removeAllListeners('request');
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (!this.answer(request, response)) {
        this.fullRoutes(request, response);
      }
    });
  }

  /** True when this route took the request (it then hands what it cannot answer on itself). */
  answer(request: IncomingMessage, response: ServerResponse): boolean {
    const method = request.method;
    if ((method !== 'GET' && method !== 'HEAD') || !isPlain(request.headers)) {
      return false;
    }
    const started = performance.now();
    const known = this.understand(request.url ?? '');
    if (!known || known.target.fetch.pathClass !== 'immutable') {
      return false;
    }
    const held = this.pullThrough.memoryHit(known.target, method);
    if (held) {
      this.send(known, held, request, response, started);
      return true;
    }
    if (method === 'HEAD') {
      return false;
    }
    void this.answerFromStorage(known, request, response, started);
    return true;
  }

  private async answerFromStorage(
    known: KnownUrl,
    request: IncomingMessage,
    response: ServerResponse,
    started: number,
  ): Promise<void> {
    let plan: ServePlan | null;
    try {
      plan = await this.pullThrough.storedHit(known.target);
    } catch {
      // Storage failing: the full routes answer it (and report the error their one way).
      plan = null;
    }
    if (plan) {
      this.send(known, plan, request, response, started);
    } else {
      this.fullRoutes(request, response);
    }
  }

  private send(
    known: KnownUrl,
    plan: ServePlan,
    request: IncomingMessage,
    response: ServerResponse,
    started: number,
  ): void {
    const remote = known.target.remote.name;
    const length = Number(plan.headers['content-length']);
    const requestId = requestIdOf(request);
    const access = this.accessParts(
      known,
      request.method === 'HEAD' ? 'HEAD' : 'GET',
      plan,
      length,
    );
    response.once('close', () => {
      const seconds = elapsed(started);
      const completed = response.writableFinished;
      if (completed) {
        this.metrics.request(remote, known.route, 'cache', plan.status, seconds);
        if (plan.body && length > 0) {
          this.metrics.served(remote, 'cache', length);
        }
      }
      this.requestLog.accessAs(access, requestId, completed, seconds);
    });
    sendPlan(response, plan, requestId);
  }

  private accessParts(
    known: KnownUrl,
    method: 'GET' | 'HEAD',
    plan: ServePlan,
    length: number,
  ): AccessParts {
    const bytes = Number.isFinite(length) ? length : null;
    const made = known.access[method];
    if (made && made.kind.status === plan.status && made.kind.bytes === bytes) {
      return made;
    }
    return (known.access[method] = this.requestLog.partsOf({
      method,
      path: known.path,
      remote: known.target.remote.name,
      route: known.route,
      source: 'cache',
      status: plan.status,
      bytes,
    }));
  }

  private understand(url: string): KnownUrl | null {
    const remembered = this.known.get(url);
    if (remembered) {
      return remembered;
    }
    let known: KnownUrl | null;
    try {
      known = this.targetOf(url);
    } catch {
      return null;
    }
    if (known) {
      if (this.known.size >= MAX_KNOWN_URLS) {
        this.known.clear();
      }
      this.known.set(url, known);
    }
    return known;
  }

  private targetOf(url: string): KnownUrl | null {
    if (url.includes('?')) {
      return null;
    }
    if (url.startsWith(ARTIFACT_ROUTE_PREFIX)) {
      const { remote, rawPath } = splitRemotePath(url, ARTIFACT_ROUTE_PREFIX);
      const target = this.artifacts.targetOf(remote, rawPath);
      return target && { path: url, target, route: 'artifact', access: {} };
    }
    if (url.startsWith(REGISTRY_PREFIX)) {
      const rest = url.slice(REGISTRY_PREFIX.length);
      return {
        path: url,
        target: this.registry.targetOf(rest),
        route: registryRouteOf(rest),
        access: {},
      };
    }
    return null;
  }
}

/** No Range and no condition: the whole body, the same answer for every client. */
function isPlain(headers: IncomingHttpHeaders): boolean {
  return (
    headers.range === undefined &&
    headers['if-none-match'] === undefined &&
    headers['if-modified-since'] === undefined &&
    headers['if-range'] === undefined
  );
}

function elapsed(started: number): number {
  return (performance.now() - started) / 1000;
}
