import { Stack } from './helpers/stack';
import { UpstreamServer, generatedSlice } from './helpers/upstream-server';
import { rawRequest, request } from './helpers/http';
import { waitFor } from '../tools/wait-for';

const MiB = 1024 * 1024;
const TOKEN = 'eviction-admin-token';
const admin = { authorization: `Bearer ${TOKEN}` };

interface PassReport {
  dryRun: boolean;
  removed: Array<{ remote: string; path: string; size: number; reason: string }>;
  objects: number;
  bytes: number;
}

interface Usage {
  remotes: Array<{ remote: string; objects: number; bytes: number; max_size: number | null }>;
  storage: { bytes: number; max_size: number | null };
  last_pass: { removed_objects: number; removed_bytes: number } | null;
}

/**
 * Size caps and unused-age eviction (docs/STORAGE.md) on a real stack: passes driven from the
 * Postgres records, least recently used first, down to the low-water mark; hosted files untouched.
 */
describe('eviction', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let api: string;

  const get = (remote: string, path: string) => request(`${api}/api/v1/remote/${remote}/${path}`);
  const json = async <T>(method: string, path: string): Promise<T> => {
    const response = await request(`${api}${path}`, { method, headers: admin });
    expect(response.status).toBe(200);
    return JSON.parse(response.body.toString()) as T;
  };
  /** Hits reach Postgres in the gateways' batches (every 2 s): wait for these to be written. */
  const hitsRecorded = (remote: string, paths: string[]) =>
    waitFor(
      async () => {
        const rows = await stack.query<{ n: string }>(
          `SELECT count(*) AS n FROM cached_artifacts
            WHERE remote = $1 AND path = ANY($2) AND last_accessed_at IS NOT NULL`,
          [remote, paths],
        );
        return Number(rows[0].n) === paths.length;
      },
      { description: `hits of ${paths.join(', ')} in Postgres`, timeoutMs: 15_000 },
    );

  beforeAll(async () => {
    await upstream.start();
    for (let i = 1; i <= 6; i += 1) {
      upstream.set(`files/f${i}.bin`, { body: generatedSlice(i * MiB, MiB) });
    }
    for (const name of ['a', 'b', 'c']) {
      upstream.set(`old/${name}.bin`, { body: generatedSlice(0, 64 * 1024) });
    }
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files`, max_size: '3MiB' },
        old: { package: 'generic', base_url: `${upstream.url}/old`, evict_unused_after: '6s' },
        hosted: { package: 'local' },
      },
      // The fetchers' own passes wait an hour: here passes run when a test asks for one.
      storage_limits: { evict_interval: 3600 },
      env: { ADMIN_TOKEN: TOKEN },
    });
    api = stack.url();
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('needs the admin token', async () => {
    expect((await request(`${api}/admin/api/usage`)).status).toBe(401);
    expect((await request(`${api}/admin/api/evict`, { method: 'POST' })).status).toBe(401);
  });

  it('brings a remote at 200% of its cap under it, least recently used first, hosted files untouched', async () => {
    const upload = await fetch(`${api}/api/v1/remote/hosted/keep.txt`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/octet-stream' },
      body: 'a hosted file is never evicted',
    });
    expect(upload.status).toBe(201);
    for (let i = 1; i <= 6; i += 1) {
      expect((await get('files', `f${i}.bin`)).headers['x-artifact-source']).toBe('remote');
    }
    await stack.recordsWritten('files', 6);
    // f1 and f2 are used again: the least recently used are now f3 to f6.
    for (const path of ['f1.bin', 'f2.bin']) {
      expect((await get('files', path)).headers['x-artifact-source']).toBe('cache');
    }
    await hitsRecorded('files', ['f1.bin', 'f2.bin']);

    const before = await json<Usage>('GET', '/admin/api/usage');
    expect(before.remotes.find((r) => r.remote === 'files')).toMatchObject({
      objects: 6,
      bytes: 6 * MiB,
      max_size: 3 * MiB,
    });

    // 6 MiB over a 3 MiB cap: down to 90% of it (2.7 MiB) takes the four least recently used.
    const dry = await json<PassReport>('POST', '/admin/api/evict?dry_run=true');
    expect(dry.dryRun).toBe(true);
    expect(dry.removed.map((file) => file.path)).toEqual(['f3.bin', 'f4.bin', 'f5.bin', 'f6.bin']);
    expect(dry.removed.every((file) => file.reason === 'size')).toBe(true);
    expect((await json<Usage>('GET', '/admin/api/usage')).remotes[0].bytes).toBe(6 * MiB);

    const pass = await json<PassReport>('POST', '/admin/api/evict');
    expect(pass).toMatchObject({ dryRun: false, objects: 4, bytes: 4 * MiB });
    const after = await json<Usage>('GET', '/admin/api/usage');
    const files = after.remotes.find((r) => r.remote === 'files');
    expect(files).toMatchObject({ objects: 2, bytes: 2 * MiB });
    expect(after.last_pass).toMatchObject({ removed_objects: 4, removed_bytes: 4 * MiB });
    expect(stack.storedKeys().filter((key) => key.startsWith('files/'))).toEqual([
      'files/f1.bin',
      'files/f2.bin',
    ]);
    expect(stack.storedKeys()).toContain('hosted/keep.txt');

    // What stayed is a hit; what went is fetched again, with the right bytes.
    expect((await get('files', 'f1.bin')).headers['x-artifact-source']).toBe('cache');
    const again = await get('files', 'f4.bin');
    expect(again.headers['x-artifact-source']).toBe('remote');
    expect(again.body.equals(generatedSlice(4 * MiB, MiB))).toBe(true);
    expect((await get('hosted', 'keep.txt')).status).toBe(200);

    const metrics = (await request(`${api}/metrics`)).body.toString();
    expect(metrics).toMatch(
      new RegExp(`artifactcache_evicted_bytes_total\\{remote="files",reason="size"\\} ${4 * MiB}`),
    );
  });

  it('evicts what was not used for evict_unused_after, sparing what was fetched as long ago but hit since', async () => {
    const fetched = Date.now();
    for (const name of ['a', 'b']) {
      expect((await get('old', `${name}.bin`)).headers['x-artifact-source']).toBe('remote');
    }
    await stack.recordsWritten('old', 2);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await get('old', 'b.bin')).headers['x-artifact-source']).toBe('cache');
    await hitsRecorded('old', ['b.bin']);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, fetched + 6500 - Date.now())));

    const pass = await json<PassReport>('POST', '/admin/api/evict');
    expect(pass.removed.filter((file) => file.remote === 'old')).toEqual([
      { remote: 'old', path: 'a.bin', size: 64 * 1024, reason: 'unused' },
    ]);
    expect((await get('old', 'b.bin')).headers['x-artifact-source']).toBe('cache');
    expect((await get('old', 'a.bin')).headers['x-artifact-source']).toBe('remote');
  });

  it('keeps the copy a fetch published while the pass ran, though it removes the record it read', async () => {
    expect((await get('old', 'c.bin')).headers['x-artifact-source']).toBe('remote');
    await stack.recordsWritten('old', 3);
    // The pass's view of a file fetched again under it: a record of a fetch long ago, an
    // object stored just now (whose own record the fetcher writes next).
    await stack.query(
      `UPDATE cached_artifacts SET fetched_at = now() - interval '1 hour', last_accessed_at = NULL
        WHERE remote = 'old' AND path = 'c.bin'`,
    );
    const pass = await json<PassReport>('POST', '/admin/api/evict');
    expect(pass.removed).toContainEqual(expect.objectContaining({ remote: 'old', path: 'c.bin' }));
    expect(stack.storedKeys()).toContain('old/c.bin');
    expect((await get('old', 'c.bin')).headers['x-artifact-source']).toBe('cache');
  });
});

describe('purging cached paths', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let api: string;
  const get = (path: string) => request(`${api}/api/v1/remote/deb/${path}`);
  const purge = (path: string, headers: Record<string, string> = admin) =>
    request(`${api}/cache/deb/${path}`, { method: 'DELETE', headers });

  beforeAll(async () => {
    await upstream.start();
    for (const path of ['dists/stable/Release', 'dists/stable/main/Packages', 'pool/p.deb']) {
      upstream.set(`deb/${path}`, { body: `${path} v1` });
    }
    stack = await Stack.start({
      remotes: {
        deb: { package: 'debian', base_url: `${upstream.url}/deb`, mutable_ttl: 3600 },
        hosted: { package: 'local' },
      },
      gateways: 2,
      env: { ADMIN_TOKEN: TOKEN },
    });
    api = stack.url(0);
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('forgets one path, then a prefix, on every gateway, and the next requests fetch again', async () => {
    for (const gateway of [0, 1]) {
      for (const path of ['dists/stable/Release', 'dists/stable/main/Packages', 'pool/p.deb']) {
        await request(`${stack.url(gateway)}/api/v1/remote/deb/${path}`);
      }
    }
    expect((await purge('pool/p.deb', {})).status).toBe(401);
    upstream.set('deb/pool/p.deb', { body: 'pool/p.deb v2' });
    const one = await purge('pool/p.deb');
    expect(one.status).toBe(200);
    expect(JSON.parse(one.body.toString())).toMatchObject({
      purged: { objects: 1 },
      remote: 'deb',
      path: 'pool/p.deb',
    });
    // An immutable file, held in both gateways' memory until the purge: fetched again.
    for (const gateway of [0, 1]) {
      await waitFor(
        async () =>
          (await request(`${stack.url(gateway)}/api/v1/remote/deb/pool/p.deb`)).body.toString() ===
          'pool/p.deb v2',
        { description: `gateway ${gateway} serving the purged file anew`, timeoutMs: 5000 },
      );
    }

    for (const path of ['dists/stable/Release', 'dists/stable/main/Packages']) {
      upstream.set(`deb/${path}`, { body: `${path} v2` });
    }
    // Fresh for an hour: without the purge they would be served as v1.
    expect((await get('dists/stable/Release')).body.toString()).toBe('dists/stable/Release v1');
    const prefix = await purge('dists/stable/');
    expect(JSON.parse(prefix.body.toString())).toMatchObject({ purged: { objects: 2 } });
    for (const path of ['dists/stable/Release', 'dists/stable/main/Packages']) {
      const again = await get(path);
      expect(again.headers['x-artifact-source']).toBe('remote');
      expect(again.body.toString()).toBe(`${path} v2`);
    }
    expect((await get('pool/p.deb')).headers['x-artifact-source']).toBe('cache');
  });

  it('refuses hosted remotes, no path and a bad one', async () => {
    expect(
      (await request(`${api}/cache/hosted/x.txt`, { method: 'DELETE', headers: admin })).status,
    ).toBe(400);
    // No path at all names no route: a whole remote is PUT /cache/flush?remote=deb.
    expect((await purge('')).status).toBe(404);
    expect(
      (await rawRequest(api, '/cache/deb/a/%2e%2e/b', { method: 'DELETE', headers: admin })).status,
    ).toBe(400);
    expect(
      (await request(`${api}/cache/nope/x`, { method: 'DELETE', headers: admin })).status,
    ).toBe(404);
  });
});

describe('eviction on its own, with S3 storage', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;

  beforeAll(async () => {
    await upstream.start();
    for (let i = 1; i <= 4; i += 1) {
      upstream.set(`files/g${i}.bin`, { body: generatedSlice(i, MiB) });
    }
    stack = await Stack.start({
      remotes: { files: { package: 'generic', base_url: `${upstream.url}/files` } },
      storage_limits: { max_size: '2MiB', evict_interval: 1 },
      storage: 's3',
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('runs a pass on a fetcher every evict_interval and keeps the storage cap', async () => {
    for (let i = 1; i <= 4; i += 1) {
      const response = await request(`${stack.url()}/api/v1/remote/files/g${i}.bin`);
      expect(response.status).toBe(200);
    }
    await waitFor(
      async () => {
        const rows = await stack.query<{ bytes: string }>(
          'SELECT COALESCE(sum(size), 0) AS bytes FROM cached_artifacts',
        );
        return (
          Number(rows[0].bytes) <= 2 * MiB && /evicted \d+ files/.test(stack.fetchers[0].log())
        );
      },
      { description: 'the fetcher to bring storage under 2 MiB', timeoutMs: 20_000 },
    );
    // The least recently used went from the bucket too: asking for it again fetches it again.
    const again = await request(`${stack.url()}/api/v1/remote/files/g1.bin`);
    expect(again.headers['x-artifact-source']).toBe('remote');
    expect(again.body.equals(generatedSlice(1, MiB))).toBe(true);
  });
});
