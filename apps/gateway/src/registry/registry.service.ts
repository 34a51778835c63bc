import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { PullTarget } from '../serving/pull-through.service';
import { PullThroughService } from '../serving/pull-through.service';
import type { ServePlan, ServeRequest } from '../serving/serve-plan';
import {
  type RegistryRequest,
  dockerJobPath,
  fetchTargetOf,
  parseRegistryRequest,
  servesImages,
  splitRegistryPath,
} from '@app/formats';
import { cleanPath } from '../http/path-guard';
import { REGISTRY_HEADERS } from './registry-headers';
import { type TagList, tagListPage } from './tag-list-page';

/** The cached tag list is read whole to cut a page from it; it is one small document. */
const MAX_TAG_LIST_BYTES = 4 * 1024 * 1024;

/** A /v2 path with its remote found: the image's segments and the operation after them. */
export interface ResolvedRegistryPath {
  remote: ProxyRemoteConfig;
  imageSegments: string[];
  operation: string[];
}

/**
 * /v2/{remote}/{image}/manifests|blobs|tags: a docker remote pulled through (docs/HTTP-API.md), and the
 * plain registry-mirror form /v2/{image}/... served by docker.default_remote.
 */
@Injectable()
export class RegistryService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pullThrough: PullThroughService,
  ) {}

  /** The remote a /v2 path names (or the mirror's default), for metric labels and serving. */
  resolve(rest: string): ResolvedRegistryPath {
    // Any /v2 path, whichever remote it names, obeys the same path rules as /api/v1/remote (no
    // `..`, encoded separators, NUL, double encodings).
    cleanPath(rest);
    const { segments, operation } = splitRegistryPath(rest);
    const named = Object.hasOwn(this.config.remotes, segments[0])
      ? this.config.remotes[segments[0]]
      : undefined;
    if (named) {
      if (!servesImages(named)) {
        throw new ArtifactError(
          'wrong_package',
          `${named.name} is a ${named.package} remote, not a docker registry`,
          {
            registryCode: 'UNSUPPORTED',
          },
        );
      }
      return { remote: named, imageSegments: segments.slice(1), operation };
    }
    const fallback = this.config.docker.defaultRemote;
    if (fallback) {
      return {
        remote: this.config.remotes[fallback] as ProxyRemoteConfig,
        imageSegments: segments,
        operation,
      };
    }
    throw new ArtifactError('unknown_remote', `no remote named ${JSON.stringify(segments[0])}`, {
      registryCode: 'NAME_UNKNOWN',
    });
  }

  async serve(
    resolved: ResolvedRegistryPath,
    query: string,
    request: ServeRequest,
    requestPath: string,
  ): Promise<ServePlan> {
    const { parsed, target } = this.pullTarget(resolved, query);
    if (parsed.kind !== 'tags' || parsed.query === '') {
      return this.pullThrough.serve(target, request);
    }
    // Pages are cut from the one cached list of the image: storage holds one object per image
    // however clients page through it.
    const whole = await this.pullThrough.serve(target, {
      ...request,
      method: 'GET',
      range: undefined,
      ifNoneMatch: undefined,
      ifModifiedSince: undefined,
      ifRange: undefined,
    });
    return pagePlan(whole, parsed.query, requestPath, request.method);
  }

  /** The artifact a /v2 path (after `/v2/`, without a query) names; throws for a bad request. */
  targetOf(rest: string): PullTarget {
    return this.pullTarget(this.resolve(rest), '').target;
  }

  private pullTarget(
    resolved: ResolvedRegistryPath,
    query: string,
  ): { parsed: RegistryRequest; target: PullTarget } {
    const { remote } = resolved;
    const parsed = parseRegistryRequest(resolved.imageSegments, resolved.operation, query);
    if (!isIncluded(remote, parsed.image)) {
      throw new ArtifactError(
        'forbidden',
        `${parsed.image} is not allowed by ${remote.name}'s include_patterns`,
        {
          registryCode: 'DENIED',
        },
      );
    }
    return { parsed, target: this.target(remote, parsed) };
  }

  private target(remote: ProxyRemoteConfig, parsed: RegistryRequest): PullTarget {
    const path = dockerJobPath(parsed);
    const fetch = fetchTargetOf(remote, path);
    switch (parsed.kind) {
      case 'blob':
        return {
          remote,
          path,
          fetch,
          headers: REGISTRY_HEADERS.blob,
          headMiss: 'upstream_head',
          notFoundCode: 'BLOB_UNKNOWN',
        };
      case 'manifest':
        return {
          remote,
          path,
          fetch,
          headers: REGISTRY_HEADERS.manifest,
          // Clients HEAD a manifest to resolve a tag; fetching it makes their next GET a hit.
          headMiss: 'fetch',
          notFoundCode: 'MANIFEST_UNKNOWN',
        };
      case 'tags':
        return {
          remote,
          path,
          fetch,
          headers: REGISTRY_HEADERS.tags,
          headMiss: 'fetch',
          notFoundCode: 'NAME_UNKNOWN',
        };
    }
  }
}

async function pagePlan(
  whole: ServePlan,
  query: string,
  requestPath: string,
  method: ServeRequest['method'],
): Promise<ServePlan> {
  const params = new URLSearchParams(query);
  const n = params.get('n');
  const page = tagListPage(await readTagList(whole), {
    n: n === null ? undefined : Number(n),
    last: params.get('last') ?? undefined,
  });
  const body = Buffer.from(JSON.stringify(page.body));
  const headers: Record<string, string> = {
    ...REGISTRY_HEADERS.tags(
      {
        path: requestPath,
        size: body.length,
        sha256: null,
        contentType: 'application/json',
        lastModified: null,
      },
      whole.source,
      null,
    ),
  };
  if (page.next !== null) {
    headers.link = `<${requestPath}?${page.next}>; rel="next"`;
  }
  return {
    status: 200,
    source: whole.source,
    headers,
    body: method === 'HEAD' ? null : Readable.from([body]),
  };
}

async function readTagList(plan: ServePlan): Promise<TagList> {
  const body = plan.body;
  if (!body) {
    throw new Error('tag list plan without a body');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of Buffer.isBuffer(body) ? [body] : (body as AsyncIterable<Buffer>)) {
    size += chunk.length;
    if (size > MAX_TAG_LIST_BYTES) {
      if (!Buffer.isBuffer(body)) {
        body.destroy();
      }
      throw new ArtifactError('upstream_integrity', 'cached tag list is too large to page');
    }
    chunks.push(chunk);
  }
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<TagList>;
  return { name: parsed.name ?? '', tags: Array.isArray(parsed.tags) ? parsed.tags : [] };
}
