import { parseBearerChallenge } from './bearer-challenge';

describe('parseBearerChallenge', () => {
  it('reads realm, service and scope', () => {
    expect(
      parseBearerChallenge(
        'Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:library/alpine:pull"',
      ),
    ).toEqual({
      realm: 'https://auth.example.org/token',
      service: 'registry.example.org',
      scope: 'repository:library/alpine:pull',
    });
  });

  it('accepts unquoted values and a missing scope', () => {
    expect(parseBearerChallenge('bearer realm=http://127.0.0.1:5001/token, service=local')).toEqual(
      {
        realm: 'http://127.0.0.1:5001/token',
        service: 'local',
        scope: null,
      },
    );
  });

  it('ignores Basic challenges and realms that are not http(s)', () => {
    expect(parseBearerChallenge('Basic realm="registry"')).toBeNull();
    expect(parseBearerChallenge('Bearer realm="file:///etc/passwd"')).toBeNull();
    expect(parseBearerChallenge(undefined)).toBeNull();
  });
});
