import { Inject, Injectable } from '@nestjs/common';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig, isIncluded } from '@app/config';
import type { PullTarget } from '../serving/pull-through.service';
import { PullThroughService } from '../serving/pull-through.service';
import type { ServePlan, ServeRequest } from '../serving/serve-plan';
import { MANIFEST_ACCEPT, registryKeys } from './registry-keys';
import { registryHeaders } from './registry-headers';
import { type RegistryRequest, parseRegistryRequest, splitRegistryPath } from './registry-path';

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

  serve(
    resolved: { remote: ProxyRemoteConfig; imageSegments: string[]; operation: string[] },
    query: string,
    request: ServeRequest,
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
    return this.pullThrough.serve(this.target(remote, parsed), request);
  }

  private target(remote: ProxyRemoteConfig, parsed: RegistryRequest): PullTarget {
    const scope = `repository:${parsed.image}:pull`;
    switch (parsed.kind) {
      case 'blob':
        return {
          remote,
          // One job per blob of the remote, whichever image asked for it.
          path: `_blobs/sha256:${parsed.digest}`,
          storageKey: registryKeys.blob(remote.name, parsed.digest),
          pathClass: 'immutable',
          upstream: {
            upstreamPath: `v2/${parsed.image}/blobs/sha256:${parsed.digest}`,
            expectedSha256: parsed.digest,
            scope,
          },
          headers: registryHeaders('blob'),
          headMiss: 'upstream_head',
          notFoundCode: 'BLOB_UNKNOWN',
        };
      case 'manifest': {
        const ref = parsed.reference;
        const byDigest = ref.type === 'digest';
        const reference = byDigest ? `sha256:${ref.hex}` : ref.tag;
        return {
          remote,
          path: `${parsed.image}/manifests/${reference}`,
          storageKey: byDigest
            ? registryKeys.manifestByDigest(remote.name, parsed.image, ref.hex)
            : registryKeys.manifestByTag(remote.name, parsed.image, ref.tag),
          pathClass: byDigest ? 'immutable' : 'mutable',
          upstream: {
            upstreamPath: `v2/${parsed.image}/manifests/${reference}`,
            expectedSha256: byDigest ? ref.hex : undefined,
            accept: MANIFEST_ACCEPT,
            scope,
            manifestDigestKeyPrefix: registryKeys.manifestDigestPrefix(remote.name, parsed.image),
          },
          headers: registryHeaders('manifest'),
          // Clients HEAD a manifest to resolve a tag; fetching it makes their next GET a hit.
          headMiss: 'fetch',
          notFoundCode: 'MANIFEST_UNKNOWN',
        };
      }
      case 'tags':
        return {
          remote,
          path: `${parsed.image}/tags/list${parsed.query ? `?${parsed.query}` : ''}`,
          storageKey: registryKeys.tagList(remote.name, parsed.image, parsed.query),
          pathClass: 'mutable',
          upstream: {
            upstreamPath: `v2/${parsed.image}/tags/list`,
            upstreamQuery: parsed.query || undefined,
            scope,
          },
          headers: registryHeaders('tags'),
          headMiss: 'fetch',
          notFoundCode: 'NAME_UNKNOWN',
        };
    }
  }
}
