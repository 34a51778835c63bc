/** A `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge (RFC 6750 §3). */
export interface BearerChallenge {
  realm: string;
  service: string | null;
  scope: string | null;
}

/** Null when the header is not a Bearer challenge with an http(s) realm. */
export function parseBearerChallenge(header: string | undefined): BearerChallenge | null {
  if (!header) {
    return null;
  }
  const match = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!match) {
    return null;
  }
  const params: Record<string, string> = {};
  const pattern = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let found = pattern.exec(match[1]); found; found = pattern.exec(match[1])) {
    params[found[1].toLowerCase()] = (found[2] ?? found[3]).replace(/\\(.)/g, '$1');
  }
  if (!params.realm || !/^https?:\/\//i.test(params.realm)) {
    return null;
  }
  return { realm: params.realm, service: params.service ?? null, scope: params.scope ?? null };
}
