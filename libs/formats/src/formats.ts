import type { ProxyPackageType, ProxyRemoteConfig } from '@app/config';
import { presentCargoConfig, rewriteCargoConfig } from './cargo/cargo-config';
import { cargoTarget } from './cargo/cargo-paths';
import { dockerTarget } from './docker/docker-target';
import { goAnswer, goTarget } from './go/go-paths';
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
  /** whether a path may end with `/` (pypi's index pages); else that is a 400 */
  readonly pagePaths?: boolean;
  /**
   * What fetching `path` means (throws `bad_path` or `forbidden` ArtifactErrors). Pure: the
   * gateway derives it from a request and the fetcher again from the job.
   */
  target(remote: ProxyRemoteConfig, path: string, accept: string | undefined): FetchTarget;
  /** A fetched document of `document.kind` `index`, rewritten before it is stored. */
  rewrite?(fetched: FetchedDocument, remote: ProxyRemoteConfig, target: FetchTarget): Buffer;
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
  docker: { route: 'registry', target: dockerTarget },
  rpm: PATTERNS,
  debian: PATTERNS,
  alpine: PATTERNS,
  generic: PATTERNS,
  pypi: { route: 'files', pagePaths: true, target: pypiTarget, rewrite: rewritePypiIndex },
  npm: {
    route: 'files',
    target: npmTarget,
    rewrite: rewritePackument,
    present: presentPackument,
    rawPath: npmRawPath,
  },
  go: { route: 'files', target: goTarget, answer: goAnswer },
  cargo: {
    route: 'files',
    target: cargoTarget,
    rewrite: rewriteCargoConfig,
    present: presentCargoConfig,
  },
};
