import { substituteEnv } from './env-substitution';

describe('substituteEnv', () => {
  it('expands variables in every string value, nested in maps and lists', () => {
    const result = substituteEnv(
      {
        remotes: {
          alpine: { password: '${ALPINE_PASSWORD}', include_patterns: ['${PREFIX}/.*'] },
        },
      },
      { ALPINE_PASSWORD: 's3cret', PREFIX: 'v3.18' },
    );
    expect(result.problems).toEqual([]);
    expect(result.value).toEqual({
      remotes: { alpine: { password: 's3cret', include_patterns: ['v3.18/.*'] } },
    });
  });

  it('expands several references in one string and keeps the text around them', () => {
    const { value } = substituteEnv('https://${HOST}:${PORT}/repo', {
      HOST: 'mirror.example.org',
      PORT: '8443',
    });
    expect(value).toBe('https://mirror.example.org:8443/repo');
  });

  it('leaves keys and non-string values alone', () => {
    const input = { '${KEY}': 1, flag: true, ttl: 300, none: null };
    expect(substituteEnv(input, { KEY: 'x' })).toEqual({ value: input, problems: [] });
  });

  it('expands a variable set to the empty string', () => {
    expect(substituteEnv('a${EMPTY}b', { EMPTY: '' }).value).toBe('ab');
  });

  it('does not expand the replacement again', () => {
    expect(substituteEnv('${A}', { A: '${B}', B: 'no' }).value).toBe('${B}');
  });

  it('reads $${ as a literal ${', () => {
    expect(substituteEnv('pa$${ss}', {}).value).toBe('pa${ss}');
  });

  it('leaves a lone $ alone', () => {
    expect(substituteEnv('.*\\.apk$', {}).value).toBe('.*\\.apk$');
  });

  it('names the field of an unset variable', () => {
    const { problems } = substituteEnv(
      { remotes: { alpine: { password: '${ALPINE_PASSWORD}' } } },
      {},
    );
    expect(problems).toEqual([
      {
        path: ['remotes', 'alpine', 'password'],
        message: 'environment variable ALPINE_PASSWORD is not set',
      },
    ]);
  });

  it('reports list indexes, invalid names and unterminated references', () => {
    const { problems } = substituteEnv({ list: ['ok', '${1BAD}', '${OPEN'] }, {});
    expect(problems).toEqual([
      { path: ['list', 1], message: 'invalid environment variable name in ${1BAD}' },
      { path: ['list', 2], message: 'unterminated ${ (write $${ for a literal ${)' },
    ]);
  });
});
