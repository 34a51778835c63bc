import type { ProxyRemoteConfig } from '@app/config';
import { FORMATS } from '@app/formats';
import { cleanDirectoryPath, cleanPath } from './path-guard';

/**
 * A request path as the remote's format reads it (npm's `@scope%2fname`), through the path
 * guard; a trailing `/` only for formats with page paths (pypi). Throws `bad_path`.
 */
export function formatPath(remote: ProxyRemoteConfig, rawPath: string): string {
  const format = FORMATS[remote.package];
  const raw = format.rawPath?.(rawPath) ?? rawPath;
  return format.pagePaths ? cleanDirectoryPath(raw) : cleanPath(raw);
}
