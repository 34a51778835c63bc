import { Redis } from 'ioredis';
import { CacheStateService } from '../src/cache-state.service';
import { createRedisConnection } from '../src/redis.provider';
import { waitFor } from '../../../tools/wait-for';

describe('CacheStateService on a real redis-server', () => {
  let redis: Redis;
  let state: CacheStateService;
  // Own key space: remote names unique to this spec.
  const remote = `cache-spec-${process.pid}`;
  const other = `${remote}-other`;

  beforeAll(async () => {
    redis = createRedisConnection(
      { mode: 'standalone', url: process.env.TEST_REDIS_URL! },
      { enableOfflineQueue: true },
    );
    await redis.ping();
    state = new CacheStateService(redis);
  });

  afterAll(() => redis.quit());

  it('a TTL marker makes a mutable file fresh until it expires', async () => {
    expect(await state.isFresh(remote, 'a/APKINDEX.tar.gz')).toBe(false);
    // Fresh is checked under a TTL no pause can outrun; a 1 s marker checked right after it was
    // set is stale already when this process stalls for a second (the machine is shared).
    await state.markFresh(remote, 'a/APKINDEX.tar.gz', 60);
    expect(await state.isFresh(remote, 'a/APKINDEX.tar.gz')).toBe(true);
    // Marking again replaces the TTL: were it kept, the marker would outlive this wait.
    await state.markFresh(remote, 'a/APKINDEX.tar.gz', 1);
    await waitFor(async () => !(await state.isFresh(remote, 'a/APKINDEX.tar.gz')), {
      description: 'the 1 s marker to expire',
      timeoutMs: 10_000,
    });
  });

  it('a TTL of 0 removes the marker', async () => {
    await state.markFresh(remote, 'b', 60);
    await state.markFresh(remote, 'b', 0);
    expect(await state.isFresh(remote, 'b')).toBe(false);
  });

  it('stores and replaces revalidation metadata', async () => {
    expect(await state.getValidators(remote, 'repodata/repomd.xml')).toEqual({
      etag: null,
      lastModified: null,
    });
    await state.setValidators(remote, 'repodata/repomd.xml', {
      etag: '"v1"',
      lastModified: 'Wed, 01 Jan 2026 00:00:00 GMT',
    });
    expect(await state.getValidators(remote, 'repodata/repomd.xml')).toEqual({
      etag: '"v1"',
      lastModified: 'Wed, 01 Jan 2026 00:00:00 GMT',
    });
    await state.setValidators(remote, 'repodata/repomd.xml', { etag: '"v2"', lastModified: null });
    expect(await state.getValidators(remote, 'repodata/repomd.xml')).toEqual({
      etag: '"v2"',
      lastModified: null,
    });
  });

  it('remembers upstream 404s for the negative TTL, and forgets them on demand', async () => {
    await state.rememberMissing(remote, 'gone.bin', 60);
    expect(await state.isKnownMissing(remote, 'gone.bin')).toBe(true);
    await state.forgetMissing(remote, 'gone.bin');
    expect(await state.isKnownMissing(remote, 'gone.bin')).toBe(false);
    await state.rememberMissing(remote, 'off.bin', 0);
    expect(await state.isKnownMissing(remote, 'off.bin')).toBe(false);
  });

  it('flushes one remote and leaves the others', async () => {
    await state.markFresh(remote, 'x', 60);
    await state.setValidators(remote, 'x', { etag: '"e"', lastModified: null });
    await state.rememberMissing(remote, 'y', 60);
    await state.markFresh(other, 'x', 60);
    expect(await state.flush(remote)).toBeGreaterThanOrEqual(3);
    expect(await state.isFresh(remote, 'x')).toBe(false);
    expect(await state.isKnownMissing(remote, 'y')).toBe(false);
    expect(await state.isFresh(other, 'x')).toBe(true);
    await state.flush(other);
  });

  it('fails fast instead of hanging while Redis is unreachable', async () => {
    const dead = createRedisConnection({ mode: 'standalone', url: 'redis://127.0.0.1:9' });
    dead.on('error', () => undefined);
    const down = new CacheStateService(dead);
    const started = Date.now();
    await expect(down.isFresh(remote, 'x')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
    dead.disconnect();
  });
});
