import { resendOnNewConnection } from './http-request';

describe('resendOnNewConnection', () => {
  it.each<[string, boolean, string | undefined, boolean]>([
    ['GET', true, 'ECONNRESET', true],
    ['HEAD', true, 'ECONNRESET', true],
    ['GET', true, 'EPIPE', true],
    // a new connection that fails was not closed for idleness: the server is in trouble
    ['GET', false, 'ECONNRESET', false],
    ['GET', true, 'ECONNREFUSED', false],
    ['GET', true, 'ETIMEDOUT', false],
    ['GET', true, undefined, false],
    // not safe to send twice
    ['PUT', true, 'ECONNRESET', false],
    ['POST', true, 'ECONNRESET', false],
  ])('%s, reused %s, %s → %s', (method, reused, code, resend) => {
    expect(resendOnNewConnection(method, reused, code)).toBe(resend);
  });
});
