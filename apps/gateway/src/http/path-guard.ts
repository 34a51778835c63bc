import { ArtifactError } from '@app/common';

export const MAX_PATH_BYTES = 1024;

/**
 * Cleans the raw (still percent-encoded) path after a route prefix, before any storage or upstream
 * access (SPEC §5). Refuses instead of normalising: `..` and `.` segments in any spelling,
 * encoded slashes and backslashes, NUL, empty segments, and paths over 1024 bytes. The result is
 * decoded, has no leading slash, and is what patterns, storage keys and upstream URLs use.
 */
export function cleanPath(rawPath: string): string {
  if (Buffer.byteLength(rawPath) > MAX_PATH_BYTES * 3) {
    throw badPath('path is longer than 1024 bytes');
  }
  if (/%2f|%5c/i.test(rawPath)) {
    throw badPath('encoded slashes and backslashes are not allowed in paths');
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw badPath('path has an invalid percent-encoding');
  }
  if (Buffer.byteLength(decoded) > MAX_PATH_BYTES) {
    throw badPath('path is longer than 1024 bytes');
  }
  if (decoded.includes('\0')) {
    throw badPath('NUL bytes are not allowed in paths');
  }
  if (decoded.includes('\\')) {
    throw badPath('backslashes are not allowed in paths');
  }
  if (hasControlCharacter(decoded)) {
    throw badPath('control characters are not allowed in paths');
  }
  if (decoded === '') {
    throw badPath('path is empty');
  }
  const segments = decoded.split('/');
  for (const segment of segments) {
    if (segment === '.' || segment === '..') {
      throw badPath('"." and ".." segments are not allowed in paths');
    }
  }
  if (segments.slice(0, -1).some((segment) => segment === '')) {
    throw badPath('empty path segments ("//" or a leading "/") are not allowed');
  }
  return decoded;
}

/** Same rules, but a trailing '/' is allowed (directory listings of hosted remotes). */
export function cleanDirectoryPath(rawPath: string): string {
  if (rawPath === '') {
    return '';
  }
  return cleanPath(rawPath);
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) {
      return true;
    }
  }
  return false;
}

function badPath(message: string): ArtifactError {
  return new ArtifactError('bad_path', message);
}

/**
 * Splits `/prefix/<remote>/<rest>?query` taken from the raw request URL. Fastify decodes route
 * params, which would turn `%2e%2e` into `..` after the fact, so the guards work on the raw URL.
 */
export function splitRemotePath(
  rawUrl: string,
  prefix: string,
): { remote: string; rawPath: string; query: string } {
  const queryAt = rawUrl.indexOf('?');
  const pathname = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);
  if (!pathname.startsWith(prefix)) {
    throw badPath(`expected a path under ${prefix}`);
  }
  const rest = pathname.slice(prefix.length);
  const slash = rest.indexOf('/');
  const remote = slash === -1 ? rest : rest.slice(0, slash);
  const rawPath = slash === -1 ? '' : rest.slice(slash + 1);
  let decodedRemote: string;
  try {
    decodedRemote = decodeURIComponent(remote);
  } catch {
    throw badPath('remote name has an invalid percent-encoding');
  }
  return { remote: decodedRemote, rawPath, query };
}
