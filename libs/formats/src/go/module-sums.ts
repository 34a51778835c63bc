import { readFile, stat } from 'node:fs/promises';
import { ArtifactError } from '@app/common';
import type { DownloadCheck } from '../download-check';
import { goVersionFile, sumdbName } from './go-paths';
import { goModHash, moduleZipHash } from './module-hash';

/** go refuses a go.mod larger than this. */
const GO_MOD_MAX_BYTES = 16 * 1024 * 1024;

/**
 * A go remote with a sumdb_url checks each `.mod` and `.zip` against the checksum database
 * before it is served whole: the lookup of the version (`sumdb/<name>/lookup/<module>@<version>`,
 * through the cache, so that go's own lookup is a hit) records their `h1:` hashes. A version the
 * database does not know (a private module) passes as the upstream sent it, as with GONOSUMDB.
 * The lookup's signature is go's to check; the cache compares the hashes.
 */
export async function verifyGoDownload(check: DownloadCheck): Promise<void> {
  const file = goVersionFile(check.path);
  const database = sumdbName(check.remote);
  if (file === null || file.ext === 'info' || database === null) {
    return;
  }
  const lookup = await check.related(`sumdb/${database}/lookup/${file.lookupName}`);
  if (lookup === null) {
    return;
  }
  const recorded = file.ext === 'mod' ? `${file.version}/go.mod` : file.version;
  const expected = recordedHash(lookup.toString('utf8'), file.module, recorded);
  if (expected === null) {
    throw new ArtifactError(
      'upstream_integrity',
      `the checksum database's lookup of ${file.lookupName} records no hash of ${file.module} ${recorded}`,
      { expectedDigest: null, actualDigest: 'unchecked' },
    );
  }
  const actual =
    file.ext === 'mod'
      ? goModHash(await readGoMod(check.file))
      : await moduleZipHash(check.file, check.signal);
  if (actual !== expected) {
    throw new ArtifactError(
      'upstream_integrity',
      `${check.path}: the checksum database records ${expected}, the upstream sent ${actual}`,
      { expectedDigest: expected, actualDigest: actual },
    );
  }
}

/**
 * The `h1:` a lookup answer records for `<module> <version>`: its lines after the record number
 * are go.sum lines, up to the blank line before the signed tree head.
 */
export function recordedHash(lookup: string, module: string, version: string): string | null {
  for (const line of lookup.split('\n').slice(1)) {
    if (line === '') {
      break;
    }
    const [path, recorded, hash, extra] = line.split(' ');
    if (path === module && recorded === version && hash?.startsWith('h1:') && extra === undefined) {
      return hash;
    }
  }
  return null;
}

async function readGoMod(file: string): Promise<Buffer> {
  if ((await stat(file)).size > GO_MOD_MAX_BYTES) {
    throw new ArtifactError(
      'upstream_integrity',
      `a go.mod larger than ${GO_MOD_MAX_BYTES} bytes`,
      {
        actualDigest: 'unchecked',
      },
    );
  }
  return readFile(file);
}
