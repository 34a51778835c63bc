import { posix } from 'node:path';

const BY_EXTENSION: Record<string, string> = {
  '.rpm': 'application/x-rpm',
  '.xml': 'application/xml',
  '.json': 'application/json',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.xz': 'application/x-xz',
  '.bz2': 'application/x-bzip2',
  '.zst': 'application/zstd',
  '.tar': 'application/x-tar',
  '.zip': 'application/zip',
  '.jar': 'application/java-archive',
  '.deb': 'application/vnd.debian.binary-package',
  '.udeb': 'application/vnd.debian.binary-package',
  '.asc': 'application/pgp-signature',
  '.sig': 'application/pgp-signature',
  '.gpg': 'application/pgp-keys',
  '.sqlite': 'application/vnd.sqlite3',
  '.iso': 'application/x-iso9660-image',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
};

const GENERIC_TYPES = new Set(['application/octet-stream', 'binary/octet-stream', '']);

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** By extension, for paths whose type the upstream did not state. */
function contentTypeByExtension(path: string): string | null {
  return BY_EXTENSION[posix.extname(path).toLowerCase()] ?? null;
}

/** The upstream's type when it says something specific, else by extension, else octet-stream. */
export function contentTypeFor(path: string, upstreamType?: string | null): string {
  const stated = upstreamType?.trim() ?? '';
  if (!GENERIC_TYPES.has(stated.split(';')[0].trim().toLowerCase())) {
    return stated;
  }
  return contentTypeByExtension(path) ?? DEFAULT_CONTENT_TYPE;
}
