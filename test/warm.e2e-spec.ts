import { createHash, randomBytes } from 'node:crypto';
import { request } from './helpers/http';
import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';
import { waitFor } from '../tools/wait-for';

const TOKEN = 'warm-admin-token';
const admin = { authorization: `Bearer ${TOKEN}` };
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const KiB = 1024;

const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface View {
  id: string;
  state: string;
  progress: { total: number; fetched: number; cached: number; failed: number; bytes: number };
  items: Array<{ remote: string; path: string; outcome: string; error?: string }> | null;
  summary: string;
}

/**
 * docs/HTTP-API.md "Warm-up" (issue 17, item 5): POST /admin/api/warm fetches files and whole
 * images (index, every platform's manifest, every blob) ahead of the builds, each once, behind
 * every client miss, with its progress readable while it runs.
 */
describe('warm-up', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  const warm = async (body: unknown, query = '') => {
    const response = await request(`${stack.url()}/admin/api/warm${query}`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, view: JSON.parse(response.body.toString()) as View };
  };
  const show = async (id: string, query = '') => {
    const response = await request(`${stack.url()}/admin/api/warm/${id}${query}`, {
      headers: admin,
    });
    return { status: response.status, view: JSON.parse(response.body.toString()) as View };
  };

  /**
   * An image of two platforms on the fake registry, sharing one layer: the upstream paths of its
   * index (by tag), its two manifests and its five blobs.
   */
  function publishImage(
    image: string,
    tag: string,
  ): { index: string; manifests: string[]; blobs: string[] } {
    const blobs: string[] = [];
    const blob = () => {
      const bytes = randomBytes(64 * KiB);
      const path = `hub/v2/${image}/blobs/${digestOf(bytes)}`;
      upstream.set(path, { body: bytes });
      blobs.push(path);
      return { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length };
    };
    const shared = blob();
    const manifest = (architecture: string) => {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: blob(),
          layers: [shared, blob()],
        }),
      );
      publishDocument(`hub/v2/${image}/manifests/${digestOf(bytes)}`, bytes, OCI_MANIFEST);
      return {
        mediaType: OCI_MANIFEST,
        digest: digestOf(bytes),
        size: bytes.length,
        platform: { os: 'linux', architecture },
      };
    };
    const platforms = [manifest('amd64'), manifest('arm64')];
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: platforms }),
    );
    publishDocument(`hub/v2/${image}/manifests/${tag}`, index, OCI_INDEX);
    return {
      index: `hub/v2/${image}/manifests/${tag}`,
      manifests: platforms.map((p) => `hub/v2/${image}/manifests/${p.digest}`),
      blobs,
    };
  }

  function publishDocument(path: string, bytes: Buffer, mediaType: string): void {
    upstream.set(path, {
      body: bytes,
      contentType: mediaType,
      headers: { 'docker-content-digest': digestOf(bytes) },
    });
  }

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        hub: { package: 'docker', base_url: `${upstream.url}/hub` },
        files: { package: 'generic', base_url: `${upstream.url}/files` },
      },
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('needs the admin token and names every problem of a request, queueing nothing', async () => {
    const anonymous = await request(`${stack.url()}/admin/api/warm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"paths":["files/a.bin"]}',
    });
    expect(anonymous.status).toBe(401);
    const refused = await warm({ paths: ['nope/a.bin'], images: ['files/app:1'] });
    expect(refused.status).toBe(400);
    expect(refused.view).toMatchObject({
      error: 'bad_request',
      message:
        'paths: nope/a.bin: no remote nope; images: files/app:1: files is not a docker remote: list its files under "paths"',
    });
  });

  it('warms files and a whole image, each fetched once; later pulls are hits', async () => {
    const image = publishImage('library/app', '1.0');
    upstream.set('files/a.bin', { body: 'a'.repeat(1000) });
    const { status, view } = await warm(
      { paths: ['files/a.bin', 'files/missing.bin'], images: ['hub/library/app:1.0'] },
      '?wait=60',
    );
    expect(status).toBe(200);
    expect(view).toMatchObject({
      state: 'completed',
      progress: { total: 10, fetched: 9, cached: 0, failed: 1 },
    });
    expect(view.items?.find((item) => item.outcome === 'failed')).toMatchObject({
      remote: 'files',
      path: 'missing.bin',
      error: expect.stringContaining('upstream_not_found'),
    });
    const everything = [image.index, ...image.manifests, ...image.blobs, 'files/a.bin'];
    for (const path of everything) {
      expect({ path, gets: upstream.count(path) }).toEqual({ path, gets: 1 });
    }

    // A build pulls it all now: every answer from the cache, nothing more upstream.
    for (const path of [...image.manifests, ...image.blobs]) {
      const pulled = await request(`${stack.url()}/v2/${path.replace(/^hub\/v2\//, 'hub/')}`, {
        headers: { accept: OCI_MANIFEST },
      });
      expect({ path, status: pulled.status, source: pulled.headers['x-artifact-source'] }).toEqual({
        path,
        status: 200,
        source: 'cache',
      });
    }
    for (const path of everything) {
      expect({ path, gets: upstream.count(path) }).toEqual({ path, gets: 1 });
    }

    // Read back as text for a terminal; a second warm-up finds everything cached (the 404 too).
    const text = await request(`${stack.url()}/admin/api/warm/${view.id}`, {
      headers: { ...admin, accept: 'text/plain' },
    });
    expect(text.headers['content-type']).toMatch(/^text\/plain/);
    expect(text.body.toString()).toBe(`${view.summary}\n`);
    expect(view.summary).toMatch(
      /^warm-up \S+ completed: 10 items \(9 fetched, 0 cached, 1 failed; [\d.]+ KiB\)\nfailed files\/missing\.bin: upstream_not_found: /,
    );
    const again = await warm(
      { paths: ['files/a.bin', 'files/missing.bin'], images: ['hub/library/app:1.0'] },
      '?wait=60',
    );
    expect(again.view.progress).toMatchObject({ total: 10, fetched: 0, cached: 9, failed: 1 });
    expect(upstream.count('files/missing.bin')).toBe(1);
  });

  it('runs behind client misses, shows its progress meanwhile, and a client lifts what it asks for', async () => {
    const paths = Array.from({ length: 24 }, (_, i) => `slow/w-${i}.bin`);
    for (const path of paths) {
      // Held at half until released: the fetcher's 16 content workers stay busy with them.
      upstream.set(`files/${path}`, { size: 256 * KiB, holdAt: 128 * KiB });
    }
    upstream.set('files/urgent.bin', { body: 'urgent' });
    const started = await warm({ paths: paths.map((path) => `files/${path}`) });
    expect(started.status).toBe(202);
    const asked = () => paths.filter((path) => upstream.count(`files/${path}`) > 0);
    try {
      await waitFor(() => asked().length === 16, {
        description: 'every content worker busy with the warm-up',
        timeoutMs: 20_000,
      });
      const running = await waitFor(
        async () => {
          const shown = await show(started.view.id);
          return shown.view.progress.total === 24 ? shown : null;
        },
        { description: 'the warm-up to publish its progress', timeoutMs: 5000 },
      );
      expect(running.status).toBe(202);
      expect(running.view).toMatchObject({ state: 'active', progress: { total: 24, fetched: 0 } });
      const queue = await request(`${stack.url()}/admin/api/queues`, { headers: admin });
      expect(JSON.parse(queue.body.toString())).toMatchObject({ waiting: 8, active: 16 });

      // A miss of another file, and a client asking for one of the 8 the warm-up queued.
      const busy = new Set(asked());
      const lifted = paths.find((path) => !busy.has(path))!;
      const urgent = request(`${stack.url()}/api/v1/remote/files/urgent.bin`);
      const wanted = request(`${stack.url()}/api/v1/remote/files/${lifted}`);
      await waitFor(
        async () => {
          const listed = await request(`${stack.url()}/admin/api/queues/jobs?state=waiting`, {
            headers: admin,
          });
          const jobs = (
            JSON.parse(listed.body.toString()) as {
              jobs: Array<{ path: string; priority: number }>;
            }
          ).jobs;
          const priorityOf = (path: string) => jobs.find((job) => job.path === path)?.priority;
          return priorityOf('urgent.bin') === 0 && priorityOf(lifted) === 0;
        },
        { description: 'the urgent miss queued and the wanted file lifted', timeoutMs: 10_000 },
      );
      // One worker comes free: it takes both clients' jobs (the small file is done at once)
      // before any warm-up fetch.
      const seen = upstream.requests.length;
      upstream.release(`files/${[...busy][0]}`);
      const taken = await waitFor(
        () => {
          const next = upstream.requests.slice(seen, seen + 2).map((r) => r.path);
          return next.length === 2 ? next : null;
        },
        { description: 'the next two jobs the freed worker takes', timeoutMs: 10_000 },
      );
      expect(taken.sort()).toEqual([`files/${lifted}`, 'files/urgent.bin'].sort());
      for (const path of paths) {
        upstream.release(`files/${path}`);
      }
      expect((await urgent).status).toBe(200);
      expect((await wanted).status).toBe(200);
    } finally {
      for (const path of paths) {
        upstream.release(`files/${path}`);
      }
    }
    const done = await show(started.view.id, '?wait=60');
    expect(done.view).toMatchObject({ state: 'completed', progress: { total: 24, fetched: 24 } });
    for (const path of paths) {
      expect({ path, gets: upstream.count(`files/${path}`) }).toEqual({ path, gets: 1 });
    }
  });
});
