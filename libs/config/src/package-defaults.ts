import type { ProxyPackageType } from './config.types';

export interface PackagePatterns {
  readonly immutable: readonly string[];
  readonly mutable: readonly string[];
}

// Paths are the whole path after the remote name and patterns match from its start, so every
// default allows leading directories (`almalinux/9/BaseOS/x86_64/os/repodata/repomd.xml`).
const DIR = '(?:.*/)?';

/**
 * Default immutable/mutable patterns per package type (docs/CONFIGURATION.md), as written in a remotes file.
 * A remote's own `immutable_patterns` or `mutable_patterns` replaces the matching list.
 */
export const PACKAGE_DEFAULTS: Readonly<Record<ProxyPackageType, PackagePatterns>> = {
  // The registry protocol tells manifests and blobs apart; see classifyPath.
  docker: { immutable: [], mutable: [] },
  rpm: {
    immutable: [
      '.*\\.d?rpm$',
      // createrepo names every metadata file after its checksum (sha1/sha256/sha512):
      // repodata/<hex>-primary.xml.gz, <hex>-filelists.sqlite.bz2, <hex>-comps.xml, ...
      `${DIR}repodata/[0-9a-f]{32,128}-[^/]+$`,
    ],
    mutable: [`${DIR}repodata/repomd\\.xml(?:\\.asc|\\.key)?$`],
  },
  alpine: {
    immutable: ['.*\\.apk$'],
    mutable: [`${DIR}APKINDEX\\.tar\\.gz$`],
  },
  debian: {
    immutable: [`${DIR}pool/.+`, `${DIR}by-hash/.+`],
    mutable: [
      `${DIR}InRelease$`,
      `${DIR}Release[^/]*$`,
      `${DIR}Packages[^/]*$`,
      `${DIR}Sources[^/]*$`,
      `${DIR}Contents-[^/]+$`,
      `${DIR}Translation-[^/]+$`,
    ],
  },
  generic: { immutable: ['.*'], mutable: [] },
  // The index/file split is pypi's own path layout (libs/formats pypi).
  pypi: { immutable: [], mutable: [] },
  // Packuments and tarballs: npm's own path layout (libs/formats npm).
  npm: { immutable: [], mutable: [] },
  // config.json, index files and crates: the sparse registry's layout (libs/formats cargo).
  cargo: { immutable: [], mutable: [] },
  // Module versions, lists and the checksum database: the GOPROXY protocol (libs/formats go).
  go: { immutable: [], mutable: [] },
};
