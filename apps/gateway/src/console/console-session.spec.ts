import { ConsoleSessions, SESSION_SECONDS, cookieValue, sameOrigin } from './console-session';

describe('console sessions', () => {
  const sessions = new ConsoleSessions('the-admin-token');
  const NOW = 1_800_000_000;
  const issued = sessions.issue(NOW, 'n0nce-n0nce-n0nce-0');

  it.each([
    ['a session it issued', issued, NOW, 'n0nce-n0nce-n0nce-0'],
    ['the same, a second before it ends', issued, NOW + SESSION_SECONDS - 1, 'n0nce-n0nce-n0nce-0'],
    ['an ended one', issued, NOW + SESSION_SECONDS, null],
    ['one issued for another token', new ConsoleSessions('other').issue(NOW), NOW, null],
    [
      'its expiry moved',
      issued.replace(`v1.${NOW + SESSION_SECONDS}`, `v1.${NOW + 10 * SESSION_SECONDS}`),
      NOW,
      null,
    ],
    ['its nonce changed', issued.replace('n0nce-n0nce-n0nce-0', 'n0nce-n0nce-n0nce-1'), NOW, null],
    ['nothing', undefined, NOW, null],
    ['garbage', 'v1.1.2.3', NOW, null],
  ])('%s: %s', (_, value, now, nonce) => {
    expect(sessions.verify(value, now)).toBe(nonce);
  });

  it('never holds the token', () => {
    expect(issued).not.toContain('the-admin-token');
  });

  it.each([
    ['its own form token', (nonce: string) => sessions.formToken(nonce), true],
    ["another session's", () => sessions.formToken('another-nonce-00000'), false],
    ['none', () => undefined, false],
    ['a guess of the right length', () => 'x'.repeat(43), false],
  ])('a form with %s: %s', (_, token, accepted) => {
    const nonce = 'n0nce-n0nce-n0nce-0';
    expect(sessions.checkFormToken(nonce, token(nonce))).toBe(accepted);
  });

  it.each([
    ['signed by this session for this text', 'n0nce-n0nce-n0nce-0', 'Purged a.', true],
    ['signed for another text', 'n0nce-n0nce-n0nce-0', 'Purged b.', false],
    ['signed by another session', 'another-nonce-00000', 'Purged a.', false],
  ])('a notice %s: %s', (_, signer, text, shown) => {
    const mac = sessions.noticeMac(signer, text);
    expect(sessions.checkNotice('n0nce-n0nce-n0nce-0', 'Purged a.', mac)).toBe(shown);
  });

  it('shows no notice without its signature', () => {
    expect(sessions.checkNotice('n0nce-n0nce-n0nce-0', 'Purged a.', undefined)).toBe(false);
  });
});

describe('cookieValue', () => {
  it.each([
    ['a=1; ac_console=v1.x; b=2', 'v1.x'],
    ['ac_console=first', 'first'],
    ['xac_console=no', undefined],
    [undefined, undefined],
  ])('%s', (header, value) => {
    expect(cookieValue(header, 'ac_console')).toBe(value);
  });
});

describe('sameOrigin (a console form post)', () => {
  it.each([
    [{ origin: 'http://cache.example.org:8080', host: 'cache.example.org:8080' }, true],
    [
      {
        origin: 'https://cache.example.org',
        host: '10.0.0.5:8080',
        'x-forwarded-host': 'cache.example.org',
      },
      true,
    ],
    [{ origin: 'http://evil.example.org', host: 'cache.example.org' }, false],
    [{ origin: 'http://cache.example.org:9999', host: 'cache.example.org:8080' }, false],
    [{ origin: 'null', host: 'cache.example.org' }, false],
    [{ 'sec-fetch-site': 'cross-site', host: 'cache.example.org' }, false],
    [
      {
        'sec-fetch-site': 'same-site',
        origin: 'http://cache.example.org',
        host: 'cache.example.org',
      },
      false,
    ],
    [
      {
        'sec-fetch-site': 'same-origin',
        origin: 'http://cache.example.org',
        host: 'cache.example.org',
      },
      true,
    ],
    // no Origin: not a browser's post (curl); the form token decides
    [{ host: 'cache.example.org' }, true],
  ])('%j: %s', (headers, allowed) => {
    expect(sameOrigin(headers)).toBe(allowed);
  });
});
