import { type Exchange, type Expectation, judge } from './expectations';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

const answer = (over: Partial<Exchange> = {}): Exchange => ({
  status: 200,
  transportError: null,
  timedOut: false,
  complete: true,
  sha256: A,
  source: 'cache',
  checksumHeader: null,
  text: null,
  ...over,
});

describe('judge', () => {
  const hit: Expectation = { status: 200, sha256: [A], sources: ['cache', 'remote'] };
  const index: Expectation = {
    status: 200,
    sha256: [B],
    outdatedSha256: [A, B],
    sources: ['cache', 'remote'],
  };

  it.each<[string, Exchange, Expectation, string | null]>([
    ['a hit with the right bytes', answer(), hit, null],
    ['a miss with the right bytes', answer({ source: 'remote' }), hit, null],
    ['the checksum header agreeing', answer({ checksumHeader: A }), hit, null],
    [
      'no answer at all',
      answer({ status: 0, transportError: 'ECONNRESET', complete: false }),
      hit,
      'no response: ECONNRESET',
    ],
    [
      'no answer in time',
      answer({ status: 0, timedOut: true, complete: false }),
      hit,
      'timeout before response',
    ],
    [
      'another status, with the gateway error code',
      answer({ status: 502, text: '{"error":"upstream_unavailable","message":"x"}' }),
      hit,
      'status 502 upstream_unavailable',
    ],
    [
      'another status without a JSON body',
      answer({ status: 500, text: 'oops' }),
      hit,
      'status 500',
    ],
    ['a body cut short', answer({ complete: false }), hit, 'broken transfer'],
    ['a body too slow', answer({ complete: false, timedOut: true }), hit, 'timeout mid-body'],
    ['other bytes', answer({ sha256: C }), hit, 'wrong bytes'],
    [
      'a header naming other bytes',
      answer({ checksumHeader: B }),
      hit,
      'X-Checksum-Sha256 differs from the body',
    ],
    ['a stale answer where none may be', answer({ source: 'stale' }), hit, 'source stale'],
    ['no source header', answer({ source: null }), hit, 'source missing'],
    ['the current index', answer({ sha256: B }), index, null],
    [
      'an index version too old for when it was asked',
      answer({ sha256: A }),
      index,
      'outdated copy',
    ],
    ['an index that was never published', answer({ sha256: C }), index, 'wrong bytes'],
    ['an expected 404', answer({ status: 404, sha256: C, source: null }), { status: 404 }, null],
    [
      'a 404 cut short',
      answer({ status: 404, complete: false }),
      { status: 404 },
      'broken transfer',
    ],
    [
      'an upload answer with its digest',
      answer({ status: 201, text: `{"sha256":"${A}"}` }),
      { status: 201, answerSha256: A },
      null,
    ],
    [
      'an upload answer naming other bytes',
      answer({ status: 201, text: `{"sha256":"${B}"}` }),
      { status: 201, answerSha256: A },
      'answer names another sha256',
    ],
    [
      'an upload answer that is not JSON',
      answer({ status: 201, text: 'created' }),
      { status: 201, answerSha256: A },
      'answer names another sha256',
    ],
    [
      'an overwrite where a conflict was expected',
      answer({ status: 201, text: `{"sha256":"${A}"}` }),
      { status: 409 },
      'status 201',
    ],
  ])('%s', (_name, exchange, expectation, problem) => {
    expect(judge(exchange, expectation)).toEqual(
      problem === null ? { ok: true } : { ok: false, problem },
    );
  });
});
