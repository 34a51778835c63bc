import type { ProxyRemoteConfig } from '@app/config';

export const UPSTREAM_AUTH = Symbol('UPSTREAM_AUTH');

/**
 * How requests to a remote's own origin are authorized. Only ever consulted for URLs on the
 * remote's origin: the client never sends credentials to a host that a redirect names.
 */
export interface UpstreamAuth {
  /** Authorization header value for a request to the remote's origin, or null. */
  authorization(remote: ProxyRemoteConfig, scope: string | undefined): Promise<string | null>;
  /**
   * Called with a 401's WWW-Authenticate header; true when new credentials were obtained and the
   * request is worth repeating once.
   */
  handleChallenge(
    remote: ProxyRemoteConfig,
    challenge: string | undefined,
    scope: string | undefined,
  ): Promise<boolean>;
}

/** Basic credentials when the remote has a username; nothing otherwise. */
export function basicAuthorization(remote: ProxyRemoteConfig): string | null {
  if (remote.username === null) {
    return null;
  }
  const pair = `${remote.username}:${remote.password ?? ''}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}
