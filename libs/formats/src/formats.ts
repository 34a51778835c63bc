import type { ProxyPackageType, ProxyRemoteConfig, RemoteConfig } from '@app/config';
import type { StoredArtifact } from '@app/jobs';
import type { UpstreamResponse } from '@app/upstream';
import { presentCargoConfig, rewriteCargoConfig } from './cargo/cargo-config';
import { cargoTarget } from './cargo/cargo-paths';
import { storeDockerDocument } from './docker/docker-documents';
import { dockerTarget } from './docker/docker-target';
import type { DownloadCheck } from './download-check';
import { type DocumentFetch, storeRewritten } from './document-fetch';
import { goAnswer, goTarget } from './go/go-paths';
import { verifyGoDownload } from './go/module-sums';
import type { FetchTarget } from './fetch-target';
import { npmRawPath, npmTarget } from './npm/npm-paths';
import { presentPackument, rewritePackument } from './npm/packument';
import { patternTarget } from './patterns/pattern-target';
import { pypiTarget } from './pypi/pypi-paths';
import { rewritePypiIndex } from './pypi/simple-index';

/**
 * What makes one package type: the gateway and the fetcher ask the remote's format and hold no
 * format of their own. A new format is a folder next to these and one entry below
 * (docs/FORMATS.md says what else: its package type, defaults and docs).
 */
export interface PackageFormat {
  /** `files`: `/api/v1/remote/<remote>/...`; `registry`: the docker registry API under `/v2` */
  readonly route: 'files' | 'registry';
  /**
   * Records name other records by digest (docker manifests their blobs, blobs shared by
   * images): eviction removes nothing a cached record names before it (libs/eviction).
   */
  readonly referencing?: boolean;
  /** whether a path may end with `/` (pypi's index pages); else that is a 400 */
  readonly pagePaths?: boolean;
  /**
   * What fetching `path` means (throws `bad_path` or `forbidden` ArtifactErrors). Pure: the
   * gateway derives it from a request and the fetcher again from the job.
   */
  target(remote: ProxyRemoteConfig, path: string, accept: string | undefined): FetchTarget;
  /**
   * Stores a fetched document (a target with `document`): read whole, stored under whichever
   * keys the format keeps it (a docker manifest under its tag and its digest), rewritten if
   * links in it must lead back to the cache.
   */
  storeDocument?(fetch: DocumentFetch, response: UpstreamResponse): Promise<StoredArtifact>;
  /**
   * Checks a downloaded file beyond the digests its target names, before it is served whole or
   * stored (go: a module's `.mod` and `.zip` against the checksum database). Throws an
   * `upstream_integrity` ArtifactError when it does not match.
   */
  verifyDownload?(check: DownloadCheck): Promise<void>;
  /**
   * A stored index as one client gets it, given the URL it reached the cache at (npm: tarball
   * links must be absolute). Without it the stored bytes are served as they are.
   */
  present?(stored: Buffer, origin: string): Buffer;
  /** The raw request path before the path guard sees it (npm: `@scope%2fname`). */
  rawPath?(rawPath: string): string;
  /**
   * What the format answers itself, with nothing fetched or stored (go's `sumdb/<name>/supported`);
   * null for a path it does not answer so.
   */
  answer?(remote: ProxyRemoteConfig, path: string): FixedAnswer | null;
}

export interface FixedAnswer {
  body: string;
  contentType: string;
}

export interface FetchedDocument {
  body: Buffer;
  contentType: string | undefined;
}

const PATTERNS: PackageFormat = { route: 'files', target: patternTarget };

export const FORMATS: Readonly<Record<ProxyPackageType, PackageFormat>> = {
  docker: {
    route: 'registry',
    referencing: true,
    target: dockerTarget,
    storeDocument: storeDockerDocument,
  },
  rpm: PATTERNS,
  debian: PATTERNS,
  alpine: PATTERNS,
  generic: PATTERNS,
  pypi: {
    route: 'files',
    pagePaths: true,
    target: pypiTarget,
    storeDocument: storeRewritten(rewritePypiIndex, 'text/html'),
  },
  npm: {
    route: 'files',
    target: npmTarget,
    storeDocument: storeRewritten(rewritePackument, 'application/json'),
    present: presentPackument,
    rawPath: npmRawPath,
  },
  go: { route: 'files', target: goTarget, answer: goAnswer, verifyDownload: verifyGoDownload },
  cargo: {
    route: 'files',
    target: cargoTarget,
    storeDocument: storeRewritten(rewriteCargoConfig, 'application/json'),
    present: presentCargoConfig,
  },
};

/** Whether a remote serves images over the registry API (`/v2`), not files by path. */
export function servesImages(remote: RemoteConfig): remote is ProxyRemoteConfig {
  return remote.package !== 'local' && FORMATS[remote.package].route === 'registry';
}
