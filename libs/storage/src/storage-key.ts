import { ArtifactError } from '@app/common';

/** S3's own limit on key length; the fs driver keeps the same rule so keys move between drivers. */
export const MAX_KEY_BYTES = 1024;

/**
 * Drivers keep their in-progress writes under names that start with this (fs: temp records beside
 * the final one; s3: `.staging/<uuid>` objects). No key may use it as a segment prefix, so an
 * in-progress write can never be mistaken for, or collide with, a stored object.
 */
export const RESERVED_SEGMENT_PREFIX = '.staging';

/** Why `key` is not a valid storage key, or null when it is. */
export function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string' || key.length === 0) {
    return 'key must be a non-empty string';
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    return `key is longer than ${MAX_KEY_BYTES} bytes`;
  }
  if (key.includes('\0')) {
    return 'key contains NUL';
  }
  if (key.includes('\\')) {
    return 'key contains a backslash';
  }
  // A lone surrogate is written as U+FFFD by both fs and S3, so two different keys would alias.
  if (/\p{Cs}/u.test(key)) {
    return 'key is not well-formed UTF-16';
  }
  if (key.startsWith('/')) {
    return 'key must be relative (no leading "/")';
  }
  for (const segment of key.split('/')) {
    if (segment === '') {
      return 'key has an empty segment';
    }
    if (segment === '.' || segment === '..') {
      return `key has a "${segment}" segment`;
    }
    if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) {
      return `key segments may not start with "${RESERVED_SEGMENT_PREFIX}"`;
    }
  }
  return null;
}

export function isValidKey(key: unknown): key is string {
  return keyProblem(key) === null;
}

export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== null) {
    throw new ArtifactError('bad_path', `invalid storage key ${JSON.stringify(key)}: ${problem}`);
  }
}

/**
 * A list prefix is '' (everything) or a valid key, optionally followed by '/'. It is matched as a
 * plain string prefix, so 'a/b' also matches 'a/bc'.
 */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix === 'string' && prefix === '') {
    return;
  }
  const body = typeof prefix === 'string' && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  const problem = keyProblem(body);
  if (problem !== null) {
    throw new ArtifactError(
      'bad_path',
      `invalid storage prefix ${JSON.stringify(prefix)}: ${problem.replace(/^key/, 'prefix')}`,
    );
  }
}
