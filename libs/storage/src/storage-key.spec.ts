import { isArtifactError } from '@app/common';
import { assertValidKey, assertValidPrefix, isValidKey, MAX_KEY_BYTES } from './storage-key';

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return isArtifactError(error) ? error.code : 'not an ArtifactError';
  }
}

describe('assertValidKey', () => {
  it.each([
    'a',
    'docker/blobs/sha256/ab/abcdef',
    'rpm/repodata/repomd.xml',
    '.well-known/x',
    'a/..b/c..',
    'a/.hidden',
    'name with spaces/ü/日本',
    'x'.repeat(MAX_KEY_BYTES),
  ])('accepts %j', (key) => {
    expect(() => assertValidKey(key)).not.toThrow();
    expect(isValidKey(key)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['leading slash', '/a'],
    ['trailing slash', 'a/'],
    ['empty segment', 'a//b'],
    ['dot segment', 'a/./b'],
    ['leading dot segment', './a'],
    ['dot-dot segment', 'a/../b'],
    ['leading dot-dot', '../a'],
    ['only dot-dot', '..'],
    ['backslash', 'a\\b'],
    ['backslash traversal', '..\\a'],
    ['NUL', 'a\0b'],
    ['lone surrogate', 'a\uD800b'],
    ['reserved staging segment', '.staging/x'],
    ['reserved temp-looking segment', 'a/.staging.1234.tmp'],
    ['too long', 'x'.repeat(MAX_KEY_BYTES + 1)],
    ['too long in utf-8 bytes', 'ü'.repeat(MAX_KEY_BYTES / 2 + 1)],
  ])('rejects %s with bad_path', (_label, key) => {
    expect(codeOf(() => assertValidKey(key))).toBe('bad_path');
    expect(isValidKey(key)).toBe(false);
  });

  it('rejects values that are not strings', () => {
    expect(codeOf(() => assertValidKey(undefined as unknown as string))).toBe('bad_path');
    expect(isValidKey(42)).toBe(false);
  });
});

describe('assertValidPrefix', () => {
  it.each(['', 'a', 'a/', 'a/b', 'a/b/', 'a/b-', 'docker/blobs/sha256/a'])(
    'accepts %j',
    (prefix) => {
      expect(() => assertValidPrefix(prefix)).not.toThrow();
    },
  );

  it.each(['/', '/a', 'a//', 'a//b/', '../', 'a/../', '..', 'a\\', 'a\0', '.staging/', 'a/./'])(
    'rejects %j with bad_path',
    (prefix) => {
      expect(codeOf(() => assertValidPrefix(prefix))).toBe('bad_path');
    },
  );
});
