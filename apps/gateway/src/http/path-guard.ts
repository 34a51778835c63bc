import { ArtifactError, isArtifactError } from '@app/common';
import { RESERVED_SEGMENT_PREFIX } from '@app/storage';

export const MAX_PATH_BYTES = 1024;

/** An encoded '.', '/', '\' or NUL, in any case. */
const ENCODED_SEPARATOR = /%(?:2e|2f|5c|00)/i;
const PERCENT_ESCAPE = /%([0-9a-f]{2})/gi;

/**
 * Whether a path that was percent-decoded once still holds an encoded '.', '/', '\' or NUL for a
 * later decode to reveal: `%2e` (sent as `%252e`), `%252e` (sent as `%25252e`), and so on. We
 * decode once, but a proxy in front, an S3-compatible store or a mirror's web server may decode
 * again and see `..` or a separator our checks never saw. Each further decode is byte-wise
 * (only ASCII matters here) and shortens the text, so the loop ends.
 */
export function hidesEncodedSeparator(decoded: string): boolean {
  let text = decoded;
  for (;;) {
    if (ENCODED_SEPARATOR.test(text)) {
      return true;
    }
    const next = text.replace(PERCENT_ESCAPE, (_escape, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
    if (next === text) {
      return false;
    }
    text = next;
  }
}

/**
 * Cleans the raw (still percent-encoded) path after a route prefix, before any storage or upstream
 * access (docs/CACHING.md). Refuses instead of normalising: `..` and `.` segments in any spelling,
 * encoded slashes and backslashes (also double or triple encoded), NUL, control characters,
 * empty segments (a trailing '/' too), segments the storage drivers reserve, and paths over 1024
 * bytes. The result is decoded, has no leading slash, and is what patterns, storage
 * keys and upstream URLs use.
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
  if (hidesEncodedSeparator(decoded)) {
    throw badPath('double-encoded ".", "/", "\\" or NUL is not allowed in paths');
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
  // Only a caller that is not an HTTP request can pass one (decoding never yields one), but
  // storage keys and upstream URLs cannot hold it: encodeURIComponent throws on it.
  if (/\p{Cs}/u.test(decoded)) {
    throw badPath('paths must be well-formed unicode (no lone surrogates)');
  }
  if (decoded === '') {
    throw badPath('path is empty');
  }
  const segments = decoded.split('/');
  for (const segment of segments) {
    if (segment === '.' || segment === '..') {
      throw badPath('"." and ".." segments are not allowed in paths');
    }
    // Storage drivers name their in-progress writes so; such a key would be refused later anyway.
    if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) {
      throw badPath(`path segments may not start with "${RESERVED_SEGMENT_PREFIX}"`);
    }
  }
  // A trailing '/' too: no storage key can end with one (a hosted listing strips its own first).
  if (segments.some((segment) => segment === '')) {
    throw badPath('empty path segments ("//", a leading or a trailing "/") are not allowed');
  }
  return decoded;
}

/** Same rules, but a trailing '/' is allowed (directory listings of hosted remotes). */
export function cleanDirectoryPath(rawPath: string): string {
  if (rawPath === '') {
    return '';
  }
  return rawPath.endsWith('/') ? `${cleanPath(rawPath.slice(0, -1))}/` : cleanPath(rawPath);
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
  return { remote: cleanRemoteName(remote), rawPath, query };
}

/**
 * The remote segment obeys the path rules too (no `..`, separators, NUL, double encodings, in
 * any spelling), so that a name no remote can have is refused as a bad path instead of reaching
 * the remote lookup, metric labels and log lines.
 */
function cleanRemoteName(raw: string): string {
  if (raw === '') {
    return '';
  }
  try {
    return cleanPath(raw);
  } catch (error) {
    throw isArtifactError(error, 'bad_path')
      ? badPath(`invalid remote name: ${error.message}`)
      : error;
  }
}
