import type { RedisConfig } from '@app/config';
import { reconnectOnRoleChange, redisTarget } from './redis-target';
import { StreamScopedSentinelConnector } from './sentinel-connector';

describe('redisTarget', () => {
  it('passes a standalone URL through as written', () => {
    expect(redisTarget({ mode: 'standalone', url: 'rediss://:pw@redis.internal:6380/3' })).toEqual({
      url: 'rediss://:pw@redis.internal:6380/3',
    });
  });

  const sentinel: RedisConfig = Object.freeze({
    mode: 'sentinel',
    sentinels: Object.freeze([Object.freeze({ host: '10.0.0.1', port: 26379 })]),
    name: 'artifacts',
    username: null,
    password: null,
    db: 0,
    sentinelPassword: null,
  });

  it('asks the sentinels, and follows failovers', () => {
    const target = redisTarget(sentinel);
    expect(target).toEqual({
      sentinels: [{ host: '10.0.0.1', port: 26379 }],
      name: 'artifacts',
      db: 0,
      failoverDetector: true,
      Connector: StreamScopedSentinelConnector,
      reconnectOnError: reconnectOnRoleChange,
    });
    // ioredis appends discovered sentinels to this array: it must not be the frozen config's.
    expect(Object.isFrozen(target.sentinels)).toBe(false);
    expect(target).not.toHaveProperty('url');
    expect(target).not.toHaveProperty('password');
  });

  it('carries the credentials and database', () => {
    expect(
      redisTarget({
        ...sentinel,
        username: 'cache',
        password: 'pw',
        db: 2,
        sentinelPassword: 'spw',
      }),
    ).toMatchObject({ username: 'cache', password: 'pw', db: 2, sentinelPassword: 'spw' });
  });
});

describe('reconnectOnRoleChange', () => {
  // Replies of redis-server 7.0 on a demoted primary (ioredis' ReplyError carries the same text).
  it.each([
    ["READONLY You can't write against a read only replica.", 2],
    [
      "READONLY You can't write against a read only replica. script: 67ed14c1cb086d8c2fcf91ebe13410ba087fd0f8, on @user_script:1.",
      2,
    ],
    [
      'UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)',
      2,
    ],
    ["ERR unknown command 'FOO'", false],
    ['NOSCRIPT No matching script. Please use EVAL.', false],
    ['ERR Error running script: READONLY-ish text in a message', false],
  ])('%s → %s', (message, expected) => {
    expect(reconnectOnRoleChange(new Error(message))).toBe(expected);
  });
});
