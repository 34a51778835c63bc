import { readFileSync, truncateSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { Stack } from './helpers/stack';
import { UpstreamServer, generatedSha256 } from './helpers/upstream-server';
import { type FetchedResponse, request, sha256Of } from './helpers/http';
import { waitFor } from '../tools/wait-for';

const TOKEN = 'hit-route-token';
const MiB = 1024 * 1024;

/** Headers that differ between any two answers (the clock), left out of comparisons. */
function comparable(response: FetchedResponse): Record<string, unknown> {
  // Each response has its own date and request id; every other header must be the same.
  const { date: _date, 'x-request-id': _id, ...headers } = response.headers;
  return headers;
}

/**
 * The hit route and the memory tier (docs/PERFORMANCE.md): a cached file is answered the same,
 * byte for byte and header for header, whether it comes from memory, from storage through the
 * hit route, or through the full routes; a flush on any gateway drops every gateway's copies.
 */
describe('hits from memory and from storage', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let api: (gateway: number) => string;

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: { gen: { package: 'generic', base_url: `${upstream.url}/gen` } },
      gateways: 2,
      env: { ADMIN_TOKEN: TOKEN, MEMORY_TIER_MAX_OBJECT: '1MiB' },
    });
    api = (gateway) => `${stack.url(gateway)}/api/v1/remote/gen`;
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  /** The stored blob file that the record of `key` points at. */
  function blobOf(key: string): string {
    const record = JSON.parse(readFileSync(join(stack.storagePath, 'keys', key), 'utf8')) as {
      blob: string;
    };
    return join(stack.storagePath, 'blobs', record.blob.slice(0, 2), record.blob);
  }

  it('answers from memory with the bytes and headers of a storage hit, after storage lost it', async () => {
    upstream.set('gen/small.bin', { size: 64 * 1024 });
    const miss = await request(`${api(0)}/small.bin`);
    expect([miss.status, miss.headers['x-artifact-source']]).toEqual([200, 'remote']);
    const fromStorage = await request(`${api(0)}/small.bin`);
    const headFromStorage = await request(`${api(0)}/small.bin`, { method: 'HEAD' });
    // The storage hit kept a copy in memory; storage losing the file does not reach it.
    truncateSync(blobOf('gen/small.bin'), 10);
    const fromMemory = await request(`${api(0)}/small.bin`);
    const headFromMemory = await request(`${api(0)}/small.bin`, { method: 'HEAD' });

    expect(fromStorage.headers['x-artifact-source']).toBe('cache');
    expect(sha256Of(fromMemory.body)).toBe(generatedSha256(64 * 1024));
    expect(comparable(fromMemory)).toEqual(comparable(fromStorage));
    expect(comparable(headFromMemory)).toEqual(comparable(headFromStorage));
    expect(comparable(headFromMemory)).toEqual(comparable(fromMemory));
    expect(upstream.requests.filter((r) => r.path === 'gen/small.bin')).toHaveLength(1);
  });

  it('answers Range and conditional requests of a held file as storage hits do', async () => {
    upstream.set('gen/ranged.bin', { size: 32 * 1024 });
    await request(`${api(0)}/ranged.bin`);
    const whole = await request(`${api(0)}/ranged.bin`);
    const etag = String(whole.headers.etag);
    const ranged = await request(`${api(0)}/ranged.bin`, { headers: { range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-range']).toBe('bytes 100-199/32768');
    expect(ranged.body.equals(whole.body.subarray(100, 200))).toBe(true);
    const unchanged = await request(`${api(0)}/ranged.bin`, { headers: { 'if-none-match': etag } });
    expect(unchanged.status).toBe(304);
    const otherVersion = await request(`${api(0)}/ranged.bin`, {
      headers: { range: 'bytes=0-9', 'if-range': '"another"' },
    });
    expect([otherVersion.status, otherVersion.body.length]).toEqual([200, 32 * 1024]);
  });

  it('streams a file too large to hold from storage, and breaks the transfer if storage has it short', async () => {
    const size = 3 * MiB;
    upstream.set('gen/large.bin', { size });
    await request(`${api(0)}/large.bin`);
    const hit = await request(`${api(0)}/large.bin`);
    expect([hit.status, hit.headers['x-artifact-source'], hit.complete]).toEqual([
      200,
      'cache',
      true,
    ]);
    expect(sha256Of(hit.body)).toBe(generatedSha256(size));

    truncateSync(blobOf('gen/large.bin'), size - 1000);
    const damaged = await request(`${api(0)}/large.bin`);
    expect(damaged.status).toBe(200);
    expect(damaged.complete).toBe(false);
    expect(damaged.body.length).toBeLessThan(size);
  });

  it('stays up when clients leave mid-body of ranged storage hits (the full routes)', async () => {
    const size = 24 * MiB;
    upstream.set('gen/left.bin', { size });
    await request(`${api(0)}/left.bin`);
    // A Range goes to the full routes, whose read stops when the client leaves (its signal).
    const leaveAfterFirstBytes = () =>
      new Promise<number>((resolve, reject) => {
        const asked = get(
          `${api(0)}/left.bin`,
          { headers: { range: `bytes=0-${size - 2}` } },
          (response) => {
            response.once('data', () => {
              asked.destroy();
              resolve(response.statusCode ?? 0);
            });
          },
        );
        asked.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ECONNRESET') {
            reject(error);
          }
        });
      });
    for (let round = 0; round < 5; round += 1) {
      expect(await leaveAfterFirstBytes()).toBe(206);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await request(`${api(0)}/left.bin`, { headers: { range: 'bytes=10-19' } });
    expect([after.status, after.body.length]).toEqual([206, 10]);
    expect((await request(`${stack.url(0)}/health`)).status).toBe(200);
  });

  it('drops the copies of every gateway when one of them flushes the remote', async () => {
    upstream.set('gen/moving.bin', { body: 'version 1' });
    for (const gateway of [0, 1]) {
      await request(`${api(gateway)}/moving.bin`);
      await request(`${api(gateway)}/moving.bin`);
      expect((await request(`${api(gateway)}/moving.bin`)).body.toString()).toBe('version 1');
    }
    upstream.set('gen/moving.bin', { body: 'version 2' });
    const flushed = await request(`${stack.url(0)}/cache/flush?remote=gen`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(flushed.status).toBe(200);
    // The flushing gateway dropped its copies before it answered; the other hears it over Redis.
    expect((await request(`${api(0)}/moving.bin`)).body.toString()).toBe('version 2');
    await waitFor(
      async () => (await request(`${api(1)}/moving.bin`)).body.toString() === 'version 2',
      { description: 'the other gateway serving the new version', timeoutMs: 5000 },
    );
  });

  it('serves held and stored files with every fetcher stopped', async () => {
    upstream.set('gen/held.bin', { size: 1000 });
    upstream.set('gen/stored.bin', { size: 2 * MiB });
    for (const path of ['held.bin', 'stored.bin']) {
      await request(`${api(1)}/${path}`);
      await request(`${api(1)}/${path}`);
    }
    await stack.fetchers[0].stop();
    try {
      for (const [path, size] of [
        ['held.bin', 1000],
        ['stored.bin', 2 * MiB],
      ] as const) {
        const hit = await request(`${api(1)}/${path}`);
        expect([hit.status, hit.headers['x-artifact-source']]).toEqual([200, 'cache']);
        expect(sha256Of(hit.body)).toBe(generatedSha256(size));
      }
    } finally {
      await stack.fetchers[0].start();
    }
  });
});
