import { AdminTokenCheck } from './admin-token';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('AdminTokenCheck', () => {
  const check = new AdminTokenCheck('s3cret');

  it('accepts the token as a bearer token or as a basic password', () => {
    expect(() => check.verify('Bearer s3cret')).not.toThrow();
    expect(() => check.verify(basic('admin', 's3cret'))).not.toThrow();
  });

  it.each([
    [undefined, 'unauthorized'],
    ['', 'unauthorized'],
    ['Token s3cret', 'unauthorized'],
    ['Bearer wrong', 'bad_token'],
    ['Bearer s3cret-and-more', 'bad_token'],
    [basic('admin', 'nope'), 'bad_token'],
  ])('%j → %s', (header, code) => {
    expect(() => check.verify(header)).toThrow(expect.objectContaining({ code }));
  });

  it('without ADMIN_TOKEN every request is refused as disabled, with how to enable it', () => {
    expect(() => new AdminTokenCheck(null).verify('Bearer anything')).toThrow(/ADMIN_TOKEN/);
  });
});
