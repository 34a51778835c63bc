import type { PathClass, ProxyRemoteConfig } from './config.types';

// The config keeps compiled RegExps; GET /config must show the patterns as the user wrote them, and
// RegExp#source is both wrapped and re-escaped (`/` becomes `\/`), so the original text is kept here.
const patternSources = new WeakMap<RegExp, string>();

/**
 * Compiles a remote pattern. Patterns match from the start of the path (as Python's `re.match` did
 * in the original service); the user writes `$` to anchor the end.
 */
export function compilePattern(source: string): RegExp {
  const regex = new RegExp(`^(?:${source})`);
  patternSources.set(regex, source);
  return regex;
}

/** The pattern as written in the remotes file (or in the package defaults). */
export function patternSource(regex: RegExp): string {
  return patternSources.get(regex) ?? regex.source;
}

/** Why `source` is not a usable pattern, or null when it compiles. */
export function regexError(source: string): string | null {
  try {
    compilePattern(source);
    return null;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reason = message.lastIndexOf('/: ');
    return reason >= 0 ? message.slice(reason + 3) : message;
  }
}

/**
 * How a path (everything after the remote name, no leading slash) is cached.
 * Mutable patterns win over immutable ones. A remote with its own patterns refuses what matches
 * neither (403, as the original service did); with package defaults only, unknown files of a
 * package repository are revalidated rather than cached forever. File remotes only: a docker
 * path is classified by the registry request it is (libs/formats fetch-target).
 */
export function classifyPath(remote: ProxyRemoteConfig, path: string): PathClass {
  if (remote.mutablePatterns.some((pattern) => pattern.test(path))) {
    return 'mutable';
  }
  if (remote.immutablePatterns.some((pattern) => pattern.test(path))) {
    return 'immutable';
  }
  if (remote.customPatterns) {
    return 'forbidden';
  }
  return remote.package === 'generic' ? 'immutable' : 'mutable';
}

/**
 * The include_patterns allow-list: `subject` is the path, or for docker the image name
 * (`library/nginx`). No include patterns = everything is allowed.
 */
export function isIncluded(remote: ProxyRemoteConfig, subject: string): boolean {
  return (
    remote.includePatterns.length === 0 ||
    remote.includePatterns.some((pattern) => pattern.test(subject))
  );
}
