import { createHash } from 'node:crypto';
import { download, rawRequest, request, sha256Of } from './helpers/http';
import { Stack } from './helpers/stack';
import { UpstreamServer, generatedSha256 } from './helpers/upstream-server';
import { waitFor } from '../tools/wait-for';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MiB = 1024 * 1024;

function digestOf(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Publishes a manifest on the fake registry under its tag and its digest. */
function publishManifest(
  upstream: UpstreamServer,
  image: string,
  tag: string,
  mediaType: string,
  doc: object,
): Buffer {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...doc }));
  const file = {
    body: bytes,
    contentType: mediaType,
    headers: { 'docker-content-digest': digestOf(bytes) },
  };
  upstream.set(`v2/${image}/manifests/${tag}`, file);
  upstream.set(`v2/${image}/manifests/${digestOf(bytes)}`, file);
  return bytes;
}

function errorCode(body: Buffer): string {
  return (JSON.parse(body.toString()) as { errors: Array<{ code: string }> }).errors[0].code;
}

describe('docker registry pull-through (/v2)', () => {
  const registry = new UpstreamServer();
  const cdn = new UpstreamServer();
  const tokens = new UpstreamServer();
  let stack: Stack;
  let v2: string;

  beforeAll(async () => {
    await Promise.all([registry.start(), cdn.start(), tokens.start()]);
    stack = await Stack.start({
      remotes: {
        hub: { package: 'docker', base_url: registry.url, mutable_ttl: 1 },
        restricted: {
          package: 'docker',
          base_url: registry.url,
          include_patterns: ['library/nginx$'],
        },
        private: {
          package: 'docker',
          base_url: `${registry.url}/private`,
          username: 'puller',
          password: 'pull-secret',
          mutable_ttl: 1,
        },
        'alpine-test': { package: 'alpine', base_url: registry.url },
      },
      docker: { default_remote: 'hub' },
      gateways: 1,
      fetchers: 1,
    });
    v2 = `${stack.url()}/v2`;
  });

  afterAll(async () => {
    await stack?.stop();
    await Promise.all([registry.stop(), cdn.stop(), tokens.stop()]);
  });

  describe('errors in the registry format', () => {
    it('unknown remote → 404 NAME_UNKNOWN (without a default remote it cannot be an image)', async () => {
      const other = await Stack.start({
        remotes: { hub: { package: 'docker', base_url: registry.url } },
        fetchers: 0,
      });
      try {
        const response = await request(
          `${other.url()}/v2/no-such-remote/library/nginx/manifests/latest`,
        );
        expect(response.status).toBe(404);
        expect(errorCode(response.body)).toBe('NAME_UNKNOWN');
      } finally {
        await other.stop();
      }
    });

    it('a non-docker remote → 400', async () => {
      const response = await request(`${v2}/alpine-test/library/nginx/manifests/latest`);
      expect(response.status).toBe(400);
      expect(errorCode(response.body)).toBe('UNSUPPORTED');
    });

    it('an image that include_patterns refuses → 403 DENIED, for manifests and blobs', async () => {
      const manifest = await request(`${v2}/restricted/library/ubuntu/manifests/latest`);
      expect(manifest.status).toBe(403);
      expect(errorCode(manifest.body)).toBe('DENIED');
      const blob = await request(`${v2}/restricted/library/ubuntu/blobs/sha256:${'a'.repeat(64)}`);
      expect(blob.status).toBe(403);
      expect(registry.requests.filter((r) => r.path.includes('ubuntu'))).toHaveLength(0);
    });

    it('a malformed digest → 400 DIGEST_INVALID', async () => {
      const response = await request(`${v2}/hub/library/alpine/blobs/sha256:nothex`);
      expect(response.status).toBe(400);
      expect(errorCode(response.body)).toBe('DIGEST_INVALID');
    });

    it.each([
      // image names, tags and digests, double and triple encoded, prefixed or by the default remote
      'hub/%252e%252e/manifests/latest',
      'hub/library/%252e%252e%252fnginx/manifests/latest',
      'hub/library/nginx/manifests/%252e%252e',
      'hub/library/nginx/manifests/1.27%2500',
      'hub/library/nginx/manifests/1.27%255c',
      `hub/library/nginx/blobs/sha256:${'a'.repeat(64)}%252e`,
      `hub/library/nginx/blobs/%252e%252e%252fsha256:${'a'.repeat(64)}`,
      'hub/library/nginx/tags/%252e%252e/list',
      'hub/library/%25252e%25252e/tags/list',
      '%252e%252e/library/nginx/manifests/latest',
      'library/%252e%252e/manifests/latest',
      'hub/library/%2e%2e/manifests/latest',
      'hub/library/nginx/manifests/..',
      'private/%252e%252e/x/manifests/latest',
    ])('/v2/%s → 400 in the registry format, nothing asked upstream or stored', async (rest) => {
      const asked = registry.requests.length;
      const stored = stack.storedKeys();
      for (const method of ['GET', 'HEAD']) {
        const response = await rawRequest(stack.url(), `/v2/${rest}`, { method });
        expect({ method, status: response.status }).toEqual({ method, status: 400 });
        if (method === 'GET') {
          expect(['NAME_INVALID', 'MANIFEST_INVALID', 'DIGEST_INVALID']).toContain(
            errorCode(response.body),
          );
        }
      }
      expect(registry.requests.slice(asked)).toEqual([]);
      expect(stack.storedKeys()).toEqual(stored);
    });

    it('a tag the upstream does not have → 404 MANIFEST_UNKNOWN; a blob → 404 BLOB_UNKNOWN', async () => {
      const manifest = await request(`${v2}/hub/library/alpine/manifests/no-such-tag`);
      expect(manifest.status).toBe(404);
      expect(errorCode(manifest.body)).toBe('MANIFEST_UNKNOWN');
      const blob = await request(`${v2}/hub/library/alpine/blobs/sha256:${'b'.repeat(64)}`);
      expect(blob.status).toBe(404);
      expect(errorCode(blob.body)).toBe('BLOB_UNKNOWN');
    });
  });

  describe('manifests', () => {
    let manifest: Buffer;

    beforeAll(() => {
      manifest = publishManifest(registry, 'library/nginx', '1.27', OCI_MANIFEST, {
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: `sha256:${'c'.repeat(64)}`,
          size: 2,
        },
        layers: [],
      });
    });

    it('a tag is served with its media type, the digest of the exact bytes and a length', async () => {
      const response = await request(`${v2}/hub/library/nginx/manifests/1.27`, {
        headers: { accept: `${OCI_MANIFEST}, ${DOCKER_MANIFEST}` },
      });
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe(OCI_MANIFEST);
      expect(response.headers['docker-content-digest']).toBe(digestOf(manifest));
      expect(response.headers['content-length']).toBe(String(manifest.length));
      expect(response.body.equals(manifest)).toBe(true);
      const asked = registry.requests.find((r) => r.path === 'v2/library/nginx/manifests/1.27');
      expect(asked?.headers.accept).toContain(OCI_INDEX);
    });

    it('HEAD has the same headers and no body', async () => {
      const response = await request(`${v2}/hub/library/nginx/manifests/1.27`, { method: 'HEAD' });
      expect(response.status).toBe(200);
      expect(response.headers['docker-content-digest']).toBe(digestOf(manifest));
      expect(response.headers['content-length']).toBe(String(manifest.length));
      expect(response.body.length).toBe(0);
    });

    it('the manifest fetched by tag is also stored under its digest', async () => {
      const before = registry.requests.length;
      const response = await request(`${v2}/hub/library/nginx/manifests/${digestOf(manifest)}`);
      expect(response.status).toBe(200);
      expect(response.headers['x-artifact-source']).toBe('cache');
      expect(response.body.equals(manifest)).toBe(true);
      expect(registry.requests.length).toBe(before);
    });

    it('an expired tag is revalidated with a HEAD compared by digest; unchanged → no GET', async () => {
      const gets = () => registry.count('v2/library/nginx/manifests/1.27', 'GET');
      const getsBefore = gets();
      await waitFor(
        async () => {
          const response = await request(`${v2}/hub/library/nginx/manifests/1.27`);
          return (
            registry.count('v2/library/nginx/manifests/1.27', 'HEAD') > 0 &&
            response.headers['x-artifact-source'] === 'cache'
          );
        },
        {
          description: 'a HEAD revalidation after the 1 s TTL',
          timeoutMs: 10_000,
          intervalMs: 300,
        },
      );
      expect(gets()).toBe(getsBefore);
    });

    it('a tag moved upstream is fetched again once the TTL passed', async () => {
      const moved = publishManifest(registry, 'library/nginx', '1.27', DOCKER_MANIFEST, {
        config: {},
        layers: [{ n: 2 }],
      });
      const response = await waitFor(
        async () => {
          const r = await request(`${v2}/hub/library/nginx/manifests/1.27`);
          return r.headers['docker-content-digest'] === digestOf(moved) ? r : null;
        },
        { description: 'the moved tag', timeoutMs: 10_000, intervalMs: 300 },
      );
      expect(response.headers['content-type']).toBe(DOCKER_MANIFEST);
      expect(response.body.equals(moved)).toBe(true);
    });

    it('the upstream down: an expired tag is served stale', async () => {
      await registry.stop();
      try {
        const response = await waitFor(
          async () => {
            const r = await request(`${v2}/hub/library/nginx/manifests/1.27`);
            return r.headers['x-artifact-source'] === 'stale' ? r : null;
          },
          {
            description: 'a stale tag while the registry is down',
            timeoutMs: 15_000,
            intervalMs: 300,
          },
        );
        expect(response.status).toBe(200);
      } finally {
        await registry.start();
      }
    });

    it('an OCI index by digest is immutable and content-typed', async () => {
      const index = publishManifest(registry, 'library/multi', 'latest', OCI_INDEX, {
        manifests: [],
      });
      const first = await request(`${v2}/hub/library/multi/manifests/${digestOf(index)}`);
      expect(first.headers['content-type']).toBe(OCI_INDEX);
      expect(first.headers['docker-content-digest']).toBe(digestOf(index));
      await registry.stop();
      try {
        const second = await request(`${v2}/hub/library/multi/manifests/${digestOf(index)}`);
        expect(second.headers['x-artifact-source']).toBe('cache');
      } finally {
        await registry.start();
      }
    });
  });

  describe('blobs', () => {
    it('are verified against their digest, support Range and HEAD, and are cached', async () => {
      const layer = Buffer.from('layer bytes '.repeat(5000));
      registry.set(`v2/library/nginx/blobs/${digestOf(layer)}`, { body: layer });
      const url = `${v2}/hub/library/nginx/blobs/${digestOf(layer)}`;
      const first = await request(url);
      expect(first.status).toBe(200);
      expect(first.headers['docker-content-digest']).toBe(digestOf(layer));
      expect(first.body.equals(layer)).toBe(true);
      const range = await request(url, { headers: { range: 'bytes=0-99' } });
      expect(range.status).toBe(206);
      expect(range.body.equals(layer.subarray(0, 100))).toBe(true);
      const head = await request(url, { method: 'HEAD' });
      expect(head.headers['content-length']).toBe(String(layer.length));
      // Another image of the same remote shares the blob.
      const shared = await request(`${v2}/hub/library/other/blobs/${digestOf(layer)}`);
      expect(shared.headers['x-artifact-source']).toBe('cache');
      expect(registry.count(`v2/library/nginx/blobs/${digestOf(layer)}`)).toBe(1);
    });

    it('bytes that do not match the digest: every waiting client sees a broken transfer, nothing is stored', async () => {
      const size = 32 * MiB;
      const claimed = `sha256:${'d'.repeat(64)}`;
      registry.set(`v2/library/bad/blobs/${claimed}`, { size, rate: 16 * MiB });
      const url = `${v2}/hub/library/bad/blobs/${claimed}`;
      const results = await Promise.all([download(url), download(url), download(url)]);
      for (const result of results) {
        expect(result.status === 200 && result.complete).toBe(false);
      }
      expect(generatedSha256(size)).not.toBe(claimed);
      // Final at once (no retries) and nothing stored: the next request fetches again, and fails
      // the same way.
      expect(registry.count(`v2/library/bad/blobs/${claimed}`)).toBe(1);
      const again = await download(url);
      expect(again.status === 200 && again.complete).toBe(false);
      expect(registry.count(`v2/library/bad/blobs/${claimed}`)).toBe(2);
    });

    it("one image's 404 for a blob never hides it from an image that has it", async () => {
      const layer = Buffer.from('a layer only library/has links '.repeat(100));
      const digest = digestOf(layer);
      // Registries link blobs to repositories: library/lacks answers 404 for this digest.
      registry.set(`v2/library/has/blobs/${digest}`, { body: layer, rate: 64 * 1024 });
      const lacking = await request(`${v2}/hub/library/lacks/blobs/${digest}`);
      expect(lacking.status).toBe(404);
      expect(errorCode(lacking.body)).toBe('BLOB_UNKNOWN');
      // The negative answer belongs to library/lacks alone.
      const has = await request(`${v2}/hub/library/has/blobs/${digest}`);
      expect(has.status).toBe(200);
      expect(sha256Of(has.body)).toBe(digest.slice('sha256:'.length));
      expect(registry.count(`v2/library/lacks/blobs/${digest}`)).toBe(1);
      expect(registry.count(`v2/library/has/blobs/${digest}`)).toBe(1);

      // Cold for both at once: the failing image's fetch does not fail the other's waiters.
      const other = Buffer.from('another layer of library/has '.repeat(100));
      const otherDigest = digestOf(other);
      registry.set(`v2/library/has/blobs/${otherDigest}`, { body: other, rate: 16 * 1024 });
      const [hasOther, lacksOther] = await Promise.all([
        request(`${v2}/hub/library/has/blobs/${otherDigest}`),
        request(`${v2}/hub/library/lacks/blobs/${otherDigest}`),
      ]);
      expect(hasOther.status).toBe(200);
      expect(hasOther.body.equals(other)).toBe(true);
      // (lacks may be a 404 or, once library/has published it, a hit on the shared blob)
      expect([200, 404]).toContain(lacksOther.status);
      expect(registry.count(`v2/library/has/blobs/${otherDigest}`)).toBe(1);
      // Stored once for the remote: any image is a hit now.
      const hit = await request(`${v2}/hub/library/third/blobs/${digest}`);
      expect(hit.headers['x-artifact-source']).toBe('cache');
    });

    it('redirects to a CDN are followed without the remote credentials', async () => {
      const layer = Buffer.from('from the cdn');
      const digest = digestOf(layer);
      registry.set(`private/v2/team/app/blobs/${digest}`, {
        status: 307,
        headers: { location: `${cdn.url}/blobs/${digest}?signature=xyz` },
      });
      cdn.set(`blobs/${digest}`, { body: layer });
      const response = await request(`${v2}/private/team/app/blobs/${digest}`);
      expect(response.status).toBe(200);
      expect(response.body.equals(layer)).toBe(true);
      const toRegistry = registry.requests.find(
        (r) => r.path === `private/v2/team/app/blobs/${digest}`,
      );
      expect(toRegistry?.headers.authorization).toBe(
        `Basic ${Buffer.from('puller:pull-secret').toString('base64')}`,
      );
      const toCdn = cdn.requests.find((r) => r.path === `blobs/${digest}`);
      expect(toCdn).toBeDefined();
      expect(toCdn?.headers.authorization).toBeUndefined();
    });
  });

  describe('bearer token flow', () => {
    it('gets a token from the realm with the remote credentials, retries, and reuses the token', async () => {
      tokens.set('token', {
        body: JSON.stringify({ token: 'tok-123', expires_in: 300 }),
        contentType: 'application/json',
      });
      const challenge = `Bearer realm="${tokens.url}/token",service="registry.test",scope="repository:team/tokened:pull"`;
      const doc = publishManifest(registry, 'private/v2/team/tokened', 'v1', OCI_MANIFEST, {
        layers: [],
      });
      for (const path of [
        'private/v2/team/tokened/manifests/v1',
        `private/v2/team/tokened/manifests/${digestOf(doc)}`,
      ]) {
        registry.set(path, {
          body: doc,
          contentType: OCI_MANIFEST,
          auth: { expect: 'Bearer tok-123', challenge },
        });
      }
      const response = await request(`${v2}/private/team/tokened/manifests/v1`);
      expect(response.status).toBe(200);
      expect(response.body.equals(doc)).toBe(true);
      const tokenRequest = tokens.requests.find((r) => r.path === 'token');
      expect(tokenRequest?.headers.authorization).toBe(
        `Basic ${Buffer.from('puller:pull-secret').toString('base64')}`,
      );
      const byDigest = await request(`${v2}/private/team/tokened/manifests/${digestOf(doc)}`);
      expect(byDigest.headers['x-artifact-source']).toBe('cache');
      // Revalidation after the TTL uses the cached token: no second token request.
      await waitFor(
        async () => {
          await request(`${v2}/private/team/tokened/manifests/v1`);
          return registry.count('private/v2/team/tokened/manifests/v1', 'HEAD') > 0;
        },
        {
          description: 'a HEAD revalidation of the tokened tag',
          timeoutMs: 10_000,
          intervalMs: 300,
        },
      );
      expect(tokens.count('token')).toBe(1);
    });
  });

  describe('tag lists and mirror mode', () => {
    it('proxies tags/list with n and last', async () => {
      registry.set('v2/library/nginx/tags/list', {
        body: JSON.stringify({ name: 'library/nginx', tags: ['1.26', '1.27'] }),
        contentType: 'application/json',
      });
      const response = await request(`${v2}/hub/library/nginx/tags/list?n=10&last=1.25`);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toEqual({
        name: 'library/nginx',
        tags: ['1.26', '1.27'],
      });
      const asked = registry.requests.filter((r) => r.path === 'v2/library/nginx/tags/list');
      expect(asked.length).toBeGreaterThan(0);
    });

    it('a tag list paged upstream is stored once, and clients page it with n, last and Link', async () => {
      const tags = Array.from({ length: 7 }, (_, i) => `v${i}`);
      // The upstream pages by 3 and says where the next page is, as registries do.
      for (let page = 0; page * 3 < tags.length; page++) {
        const last = page === 0 ? undefined : tags[page * 3 - 1];
        const more = (page + 1) * 3 < tags.length;
        registry.set(`v2/library/paged/tags/list${last ? `?n=3&last=${last}` : ''}`, {
          body: JSON.stringify({ name: 'library/paged', tags: tags.slice(page * 3, page * 3 + 3) }),
          contentType: 'application/json',
          headers: more
            ? { link: `</v2/library/paged/tags/list?n=3&last=${tags[page * 3 + 2]}>; rel="next"` }
            : {},
        });
      }
      const whole = await request(`${v2}/hub/library/paged/tags/list`);
      expect(whole.status).toBe(200);
      expect(JSON.parse(whole.body.toString())).toEqual({ name: 'library/paged', tags });
      expect(whole.headers.link).toBeUndefined();

      const first = await request(`${v2}/hub/library/paged/tags/list?n=2`);
      expect(JSON.parse(first.body.toString()).tags).toEqual(['v0', 'v1']);
      expect(first.headers.link).toBe('</v2/hub/library/paged/tags/list?n=2&last=v1>; rel="next"');
      const second = await request(`${v2}/hub/library/paged/tags/list?n=2&last=v1`);
      expect(JSON.parse(second.body.toString()).tags).toEqual(['v2', 'v3']);
      const end = await request(`${v2}/hub/library/paged/tags/list?n=10&last=v4`);
      expect(JSON.parse(end.body.toString()).tags).toEqual(['v5', 'v6']);
      expect(end.headers.link).toBeUndefined();

      // However many pages clients ask for, storage holds one tag list for the image.
      const { readdirSync } = await import('node:fs');
      const lists = readdirSync(`${stack.storagePath}/keys/hub/library/paged/_tag_lists`);
      expect(lists).toEqual(['all']);
      const upstreamPages = registry.requests.filter(
        (r) => r.path === 'v2/library/paged/tags/list',
      );
      expect(upstreamPages).toHaveLength(3);
    });

    it('serves /v2/<image>/... from docker.default_remote', async () => {
      const doc = publishManifest(registry, 'library/redis', '7', OCI_MANIFEST, { layers: [] });
      const response = await request(`${v2}/library/redis/manifests/7`);
      expect(response.status).toBe(200);
      expect(response.body.equals(doc)).toBe(true);
      const prefixed = await request(`${v2}/hub/library/redis/manifests/7`);
      expect(prefixed.headers['x-artifact-source']).toBe('cache');
    });

    it('counts hits and misses per remote', async () => {
      const text = await (await fetch(`${stack.url()}/metrics`)).text();
      expect(text).toMatch(/artifactcache_cache_hits_total\{remote="hub"\} [1-9]/);
      expect(text).toMatch(/artifactcache_cache_misses_total\{remote="hub"\} [1-9]/);
    });
  });

  it('sha256Of and digestOf agree', () => {
    expect(digestOf('x')).toBe(`sha256:${sha256Of('x')}`);
  });
});
