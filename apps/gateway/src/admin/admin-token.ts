import { createHash, timingSafeEqual } from 'node:crypto';
import { ArtifactError } from '@app/common';

/**
 * Checks an Authorization header against ADMIN_TOKEN (docs/HTTP-API.md): `Bearer <token>`, or HTTP Basic
 * with the token as the password (what a browser can send to the queue UI). Throws the domain
 * error the gateway maps to 403 (disabled, wrong token) or 401 (no credentials).
 */
export class AdminTokenCheck {
  private readonly expected: Buffer | null;

  constructor(adminToken: string | null) {
    this.expected = adminToken === null ? null : digest(adminToken);
  }

  verify(header: string | undefined): void {
    if (this.expected === null) {
      throw new ArtifactError(
        'admin_disabled',
        'uploads, deletes and admin routes are disabled: start the gateway with ADMIN_TOKEN set to enable them',
      );
    }
    const presented = tokenOf(header);
    if (presented === null) {
      throw new ArtifactError(
        'unauthorized',
        'this route needs Authorization: Bearer <ADMIN_TOKEN>',
      );
    }
    // Comparing fixed-length digests keeps the time independent of where (or whether) they differ.
    if (!timingSafeEqual(digest(presented), this.expected)) {
      throw new ArtifactError('bad_token', 'the token is not the admin token');
    }
  }
}

function tokenOf(header: string | undefined): string | null {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (bearer) {
    return bearer[1];
  }
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? null : decoded.slice(colon + 1);
  }
  return null;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Who presented the credentials, for audit lines: the first 12 hex digits of the token's
 * sha256 (never the token); null when the header carries none.
 */
export function tokenFingerprint(header: string | undefined): string | null {
  const presented = tokenOf(header);
  return presented === null ? null : digest(presented).toString('hex').slice(0, 12);
}
