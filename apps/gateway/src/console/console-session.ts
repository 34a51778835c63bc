import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a console login lasts. */
export const SESSION_SECONDS = 8 * 60 * 60;

export const SESSION_COOKIE = 'ac_console';

/**
 * A console session, signed with a key derived from ADMIN_TOKEN, so that every gateway replica
 * accepts it without shared state and changing the token ends every session:
 * `v1.<expires, unix seconds>.<nonce>.<mac>`. The cookie never holds the token.
 */
export class ConsoleSessions {
  private readonly key: Buffer;

  constructor(adminToken: string) {
    this.key = createHmac('sha256', 'artifact-cache console session').update(adminToken).digest();
  }

  issue(nowSeconds: number, nonce = randomBytes(16).toString('base64url')): string {
    const body = `v1.${nowSeconds + SESSION_SECONDS}.${nonce}`;
    return `${body}.${this.mac(body)}`;
  }

  /** The session's nonce when `value` is a session this key issued and it has not expired. */
  verify(value: string | undefined, nowSeconds: number): string | null {
    const match = /^(v1\.(\d{1,12})\.([A-Za-z0-9_-]{16,64}))\.([A-Za-z0-9_-]{43})$/.exec(
      value ?? '',
    );
    if (match === null) {
      return null;
    }
    const [, body, expires, nonce, mac] = match;
    const expected = Buffer.from(this.mac(body));
    if (!timingSafeEqual(expected, Buffer.from(mac)) || Number(expires) <= nowSeconds) {
      return null;
    }
    return nonce;
  }

  /** The token every console form carries: bound to the session, unknown to another site. */
  formToken(nonce: string): string {
    return this.mac(`form.${nonce}`);
  }

  checkFormToken(nonce: string, presented: unknown): boolean {
    return sameMac(this.formToken(nonce), presented);
  }

  /**
   * The signature of a notice a page shows after an action (`?done=<text>&mac=<mac>`): bound to
   * the session, so that a link from another site cannot make the console say its words.
   */
  noticeMac(nonce: string, text: string): string {
    return this.mac(`notice.${nonce}.${text}`);
  }

  checkNotice(nonce: string, text: string, presented: unknown): boolean {
    return sameMac(this.noticeMac(nonce, text), presented);
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }
}

/** Whether a presented value is the expected MAC, compared in constant time. */
function sameMac(expected: string, presented: unknown): boolean {
  return (
    typeof presented === 'string' &&
    presented.length === expected.length &&
    timingSafeEqual(Buffer.from(expected), Buffer.from(presented))
  );
}

/** The value of cookie `name` in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      return part.slice(eq + 1).trim();
    }
  }
  return undefined;
}

/**
 * Whether a form post comes from the console's own pages: browsers send Origin on every POST
 * (and Sec-Fetch-Site); a request naming another origin, or a cross-site fetch, is refused.
 */
export function sameOrigin(headers: {
  origin?: string;
  host?: string;
  'sec-fetch-site'?: string;
  'x-forwarded-host'?: string;
}): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return false;
  }
  if (headers.origin === undefined) {
    // Not a browser's form post (curl, a script): the form token decides alone.
    return true;
  }
  let originHost: string;
  try {
    originHost = new URL(headers.origin).host;
  } catch {
    return false;
  }
  const host = headers['x-forwarded-host']?.split(',')[0].trim() ?? headers.host;
  return originHost === host;
}
