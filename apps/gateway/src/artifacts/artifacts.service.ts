import { Inject, Injectable } from '@nestjs/common';
import { ArtifactError } from '@app/common';
import { APP_CONFIG, type AppConfig, type ProxyRemoteConfig } from '@app/config';
import { FORMATS, type FixedAnswer, fetchTargetOf } from '@app/formats';
import { formatPath } from '../http/format-path';
import { artifactHeaders } from '../serving/artifact-headers';
import { type PullTarget, PullThroughService } from '../serving/pull-through.service';
import { isLocal, resolveRemote } from '../serving/remote-resolver';
import { presentedPlan } from '../serving/presented-plan';
import type { ServePlan, ServeRequest } from '../serving/serve-plan';
import { HostedService } from '../hosted/hosted.service';

/**
 * GET/HEAD /api/v1/remote/{remote}/{path}: checks the route's rules (remote, path, patterns) and
 * hands the artifact to the pull-through decision, or serves a hosted file.
 */
@Injectable()
export class ArtifactsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pullThrough: PullThroughService,
    private readonly hosted: HostedService,
  ) {}

  /** `origin`: the URL the client reached the cache at, for formats that write links. */
  async serve(
    remoteName: string,
    rawPath: string,
    request: ServeRequest,
    origin: () => string,
  ): Promise<ServePlan> {
    const remote = resolveRemote(this.config, remoteName);
    if (isLocal(remote)) {
      return this.hosted.serve(remote, rawPath, request);
    }
    const format = FORMATS[remote.package];
    const path = cleanedPath(remote, rawPath);
    const fixed = format.answer?.(remote, path);
    if (fixed) {
      return fixedPlan(fixed, request.method);
    }
    const target = this.pullTarget(remote, path, request.accept);
    const present = format.present;
    let plan: ServePlan;
    if (present === undefined || target.fetch.document === undefined) {
      plan = await this.pullThrough.serve(target, request);
    } else {
      // Presented per client, so served whole: a Range of the stored bytes would not fit it.
      const whole = { ...request, range: undefined, ifRange: undefined };
      const url = origin();
      plan = await presentedPlan(await this.pullThrough.serve(target, whole), (stored) =>
        present(stored, url),
      );
    }
    // One path, a stored variant per Accept (pypi's HTML and JSON, npm's two packuments): a
    // cache in front must keep them apart too.
    return target.fetch.jobPath === undefined
      ? plan
      : { ...plan, headers: { ...plan.headers, vary: 'Accept' } };
  }

  /**
   * The artifact a request without an Accept header names, or null for a hosted remote; throws
   * for a bad request.
   */
  targetOf(remoteName: string, rawPath: string): PullTarget | null {
    const remote = resolveRemote(this.config, remoteName);
    return isLocal(remote)
      ? null
      : this.pullTarget(remote, cleanedPath(remote, rawPath), undefined);
  }

  private pullTarget(
    remote: ProxyRemoteConfig,
    path: string,
    accept: string | undefined,
  ): PullTarget {
    const fetch = fetchTargetOf(remote, path, accept);
    return {
      remote,
      path: fetch.jobPath ?? path,
      fetch,
      headers: artifactHeaders,
      // A rewritten document's size is known once it is fetched, not from an upstream HEAD.
      headMiss: fetch.document ? 'fetch' : 'upstream_head',
    };
  }
}

/** The request path as the remote's format reads it, through the path guard; throws for a bad one. */
function cleanedPath(remote: ProxyRemoteConfig, rawPath: string): string {
  const format = FORMATS[remote.package];
  if (format.route === 'registry') {
    throw new ArtifactError(
      'wrong_package',
      `${remote.name} is a ${remote.package} remote: pull through /v2/${remote.name}/<image>/...`,
    );
  }
  return formatPath(remote, rawPath);
}

/** A format's own answer (FixedAnswer), nothing fetched or stored. */
function fixedPlan(answer: FixedAnswer, method: 'GET' | 'HEAD'): ServePlan {
  const body = Buffer.from(answer.body);
  return {
    status: 200,
    source: 'cache',
    headers: { 'content-type': answer.contentType, 'content-length': String(body.length) },
    body: method === 'HEAD' ? null : body,
  };
}
