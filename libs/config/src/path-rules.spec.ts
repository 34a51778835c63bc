import { buildAppConfig } from './app-config.loader';
import type { ProxyRemoteConfig } from './config.types';
import { classifyPath, compilePattern, isIncluded, patternSource, regexError } from './path-rules';

function remote(fields: Record<string, unknown>): ProxyRemoteConfig {
  const config = buildAppConfig({
    remotes: { r: { base_url: 'https://mirror.example.org/r', ...fields } },
  });
  return config.remotes.r as ProxyRemoteConfig;
}

describe('compilePattern', () => {
  it('matches from the start of the path', () => {
    expect(compilePattern('\\.apk$').test('main/x86_64/musl.apk')).toBe(false);
    expect(compilePattern('.*\\.apk$').test('main/x86_64/musl.apk')).toBe(true);
  });

  it('does not anchor the end unless the pattern says $', () => {
    expect(compilePattern('alpine/').test('alpine/v3.18/main/x86_64/APKINDEX.tar.gz')).toBe(true);
    expect(compilePattern('alpine$').test('alpine/v3.18')).toBe(false);
  });

  it('keeps alternations inside the anchor', () => {
    const regex = compilePattern('a|.*b');
    expect(regex.test('xa')).toBe(false);
    expect(regex.test('xb')).toBe(true);
  });

  it('remembers the pattern as written', () => {
    expect(patternSource(compilePattern('repodata/[0-9a-f]+-.*'))).toBe('repodata/[0-9a-f]+-.*');
    expect(patternSource(/x\/y/)).toBe('x\\/y');
  });
});

describe('regexError', () => {
  it('is null for a valid pattern and the reason otherwise', () => {
    expect(regexError('.*\\.rpm$')).toBeNull();
    expect(regexError('(abc')).toBe('Unterminated group');
    expect(regexError('(?P<name>x)')).toBe('Invalid group');
    expect(regexError('[z-a]')).toMatch(/range/i);
  });
});

describe('classifyPath', () => {
  it('gives mutable patterns precedence over immutable ones', () => {
    const r = remote({
      package: 'generic',
      immutable_patterns: ['.*'],
      mutable_patterns: ['.*/latest/.*'],
    });
    expect(classifyPath(r, 'app/latest/app.tar.gz')).toBe('mutable');
    expect(classifyPath(r, 'app/1.2.3/app.tar.gz')).toBe('immutable');
  });

  it('refuses a path that matches neither once the remote sets its own patterns (seed: 403)', () => {
    const r = remote({ package: 'generic', immutable_patterns: ['.*\\.tar\\.gz$'] });
    expect(r.customPatterns).toBe(true);
    expect(classifyPath(r, 'some/path/archive.tar.gz')).toBe('immutable');
    expect(classifyPath(r, 'some/path/file.rpm')).toBe('forbidden');
  });

  it('keeps the default mutable list when only immutable_patterns is set (seed: APKINDEX)', () => {
    const r = remote({ package: 'alpine', immutable_patterns: ['.*\\.apk$'] });
    expect(classifyPath(r, 'alpine/v3.18/x86_64/APKINDEX.tar.gz')).toBe('mutable');
    expect(classifyPath(r, 'alpine/v3.18/x86_64/busybox-1.36.1-r5.apk')).toBe('immutable');
    expect(classifyPath(r, 'alpine/last-updated')).toBe('forbidden');
  });

  it('keeps the default immutable list when only mutable_patterns is set', () => {
    const r = remote({ package: 'rpm', mutable_patterns: ['.*repomd\\.xml$'] });
    expect(r.customPatterns).toBe(true);
    expect(classifyPath(r, 'el9/Packages/bash-5.1.8-9.el9.x86_64.rpm')).toBe('immutable');
    expect(classifyPath(r, 'el9/repodata/repomd.xml')).toBe('mutable');
    expect(classifyPath(r, 'el9/repodata/repomd.xml.asc')).toBe('forbidden');
  });

  it('treats an explicitly empty list as set: only mutable paths are served', () => {
    const r = remote({
      package: 'generic',
      immutable_patterns: [],
      mutable_patterns: ['.*index$'],
    });
    expect(classifyPath(r, 'dist/index')).toBe('mutable');
    expect(classifyPath(r, 'dist/app.zip')).toBe('forbidden');
  });

  it('falls back to mutable for package repositories and immutable for generic', () => {
    expect(classifyPath(remote({ package: 'rpm' }), 'x/.treeinfo')).toBe('mutable');
    expect(classifyPath(remote({ package: 'alpine' }), 'x/MIRRORS.txt')).toBe('mutable');
    expect(classifyPath(remote({ package: 'debian' }), 'x/README')).toBe('mutable');
    expect(classifyPath(remote({ package: 'generic' }), 'x/README')).toBe('immutable');
  });
});

describe('isIncluded', () => {
  it('allows everything without include_patterns', () => {
    expect(isIncluded(remote({ package: 'generic' }), 'any/path/at/all.bin')).toBe(true);
  });

  it('matches a docker image name (seed: docker-restricted allows only library/nginx)', () => {
    const r = remote({ package: 'docker', include_patterns: ['library/nginx$'] });
    expect(isIncluded(r, 'library/nginx')).toBe(true);
    expect(isIncluded(r, 'library/ubuntu')).toBe(false);
    expect(isIncluded(r, 'library/nginx-unprivileged')).toBe(false);
  });

  it('matches the path from its start, any pattern allowing it', () => {
    const r = remote({ package: 'rpm', include_patterns: ['almalinux/9/', 'epel/9/'] });
    expect(isIncluded(r, 'almalinux/9/BaseOS/x86_64/os/repodata/repomd.xml')).toBe(true);
    expect(isIncluded(r, 'epel/9/Everything/x86_64/repodata/repomd.xml')).toBe(true);
    expect(isIncluded(r, 'almalinux/8/BaseOS/x86_64/os/repodata/repomd.xml')).toBe(false);
    expect(isIncluded(r, 'mirror/almalinux/9/x.rpm')).toBe(false);
  });
});
