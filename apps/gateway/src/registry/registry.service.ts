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
  splitRegistryPath,
} from '@app/formats';
import { cleanPath } from '../http/path-guard';
import { registryHeaders } from './registry-headers';
import { type TagList, tagListPage } from './tag-list-page';

/** The cached tag list is read whole to cut a page from it; it is one small document. */
const MAX_TAG_LIST_BYTES = 4 * 1024 * 1024;

/**
 * /v2/{remote}/{image}/manifests|blobs|tags: a docker remote pulled through (SPEC §4), and the
 * plain registry-mirror form /v2/{image}/... served by docker.default_remote.
 */
@Injectable()
export class RegistryService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pullThrough: PullThroughService,
  ) {}

  /** The remote a /v2 path names (or the mirror's default), for metric labels and serving. */
  resolve(rest: string): {
    remote: ProxyRemoteConfig;
    imageSegments: string[];
    operation: string[];
  } {
    // Any /v2 path, whichever remote it names, obeys the same path rules as /api/v1/remote (no
    // `..`, encoded separators, NUL, double encodings).
    cleanPath(rest);
    const { segments, operation } = splitRegistryPath(rest);
    const named = Object.hasOwn(this.config.remotes, segments[0])
      ? this.config.remotes[segments[0]]
      : undefined;
    if (named) {
      if (named.package !== 'docker') {
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
    resolved: { remote: ProxyRemoteConfig; imageSegments: string[]; operation: string[] },
    query: string,
    request: ServeRequest,
    requestPath: string,
  ): Promise<ServePlan> {
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
    const target = this.target(remote, parsed);
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

  private target(remote: ProxyRemoteConfig, parsed: RegistryRequest): PullTarget {
    const path = dockerJobPath(parsed);
    const fetch = fetchTargetOf(remote, path);
    switch (parsed.kind) {
      case 'blob':
        return {
          remote,
          path,
          fetch,
          headers: registryHeaders('blob'),
          headMiss: 'upstream_head',
          notFoundCode: 'BLOB_UNKNOWN',
        };
      case 'manifest':
        return {
          remote,
          path,
          fetch,
          headers: registryHeaders('manifest'),
          // Clients HEAD a manifest to resolve a tag; fetching it makes their next GET a hit.
          headMiss: 'fetch',
          notFoundCode: 'MANIFEST_UNKNOWN',
        };
      case 'tags':
        return {
          remote,
          path,
          fetch,
          headers: registryHeaders('tags'),
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
    ...registryHeaders('tags')(
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
  if (!plan.body) {
    throw new Error('tag list plan without a body');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of plan.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_TAG_LIST_BYTES) {
      plan.body.destroy();
      throw new ArtifactError('upstream_integrity', 'cached tag list is too large to page');
    }
    chunks.push(chunk);
  }
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<TagList>;
  return { name: parsed.name ?? '', tags: Array.isArray(parsed.tags) ? parsed.tags : [] };
}
