import { ARTIFACT_ROUTE_PREFIX } from './routes';

/**
 * A stored JSON document whose `field` links were written as paths of the cache
 * (`"<field>":"/api/v1/remote/...`), with each made absolute with the URL the client reached the
 * cache at (`origin`: scheme, host, port and any path prefix). For clients that want absolute
 * links (npm's tarballs, cargo's `dl`), while the stored bytes stay the same for every host.
 */
export function withOrigin(stored: Buffer, field: string, origin: string): Buffer {
  const route = JSON.stringify(ARTIFACT_ROUTE_PREFIX).slice(1, -1);
  const from = `${JSON.stringify(field)}:"${route}`;
  const to = `${JSON.stringify(field)}:${JSON.stringify(origin).slice(0, -1)}${route}`;
  return Buffer.from(stored.toString('utf8').replaceAll(from, to));
}
