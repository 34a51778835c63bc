import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { download, rawRequest, request, sha256Of } from './helpers/http';
import { scratchDir } from './helpers/isolated-services';
import { Stack } from './helpers/stack';
import { runCommand } from '../tools/processes';
import { waitFor } from '../tools/wait-for';
import { UpstreamServer, generatedSha256, generatedStream } from './helpers/upstream-server';

const TOKEN = 'test-admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const MiB = 1024 * 1024;

/**
 * PUT with a body from a buffer or a generated stream. A server may answer (409, 401) and close
 * before the upload is sent; when that cuts the write before the status could be read, the
 * result is status 0 with the connection error.
 */
function put(
  url: string,
  body: Buffer | Readable,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'PUT', headers, agent: false });
    let answered = false;
    req.once('error', (error: NodeJS.ErrnoException) => {
      if (!answered) {
        resolve({ status: 0, body: `connection error: ${error.code ?? error.message}` });
      }
    });
    req.once('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    if (Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      pipeline(body, req).catch(() => undefined);
    }
  });
}

function multipart(
  field: string,
  filename: string,
  content: Buffer,
): { body: Buffer; type: string } {
  const boundary = '----artifactcache' + Math.random().toString(16).slice(2);
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
        'Content-Type: application/x-tar\r\n\r\n',
    ),
    content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

describe('hosted remotes and the admin token', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let api: string;

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: { package: 'local' },
        scratch: { package: 'local', allow_overwrite: true },
        gen: { package: 'generic', base_url: `${upstream.url}/gen` },
        other: { package: 'generic', base_url: `${upstream.url}/other` },
      },
      env: { ADMIN_TOKEN: TOKEN },
    });
    api = `${stack.url()}/api/v1/remote`;
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  describe('auth', () => {
    it('PUT, DELETE and flush need the token: 401 without, 403 with a wrong one', async () => {
      const anonymous = await request(`${api}/files/a.txt`, { method: 'DELETE' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await put(`${api}/files/a.txt`, Buffer.from('x'))).status).toBe(401);
      expect(
        (await put(`${api}/files/a.txt`, Buffer.from('x'), { authorization: 'Bearer nope' }))
          .status,
      ).toBe(403);
      expect((await request(`${api}/files/a.txt`, { method: 'DELETE' })).status).toBe(401);
      expect((await request(`${stack.url()}/cache/flush`, { method: 'PUT' })).status).toBe(401);
      expect(
        (
          await request(`${stack.url()}/cache/flush`, {
            method: 'PUT',
            headers: { authorization: 'Bearer x' },
          })
        ).status,
      ).toBe(403);
    });

    it('is checked before anything else: an anonymous PUT to an unknown remote is a 401', async () => {
      expect((await put(`${api}/no-such-remote/a.txt`, Buffer.from('x'))).status).toBe(401);
      expect((await put(`${api}/gen/a.txt`, Buffer.from('x'))).status).toBe(401);
    });

    it('without ADMIN_TOKEN the routes answer 403 saying how to enable them', async () => {
      const open = await Stack.start({ remotes: { files: { package: 'local' } }, fetchers: 0 });
      try {
        const response = await put(
          `${open.url()}/api/v1/remote/files/a.txt`,
          Buffer.from('x'),
          auth,
        );
        expect(response.status).toBe(403);
        expect(JSON.parse(response.body)).toMatchObject({ error: 'admin_disabled' });
        expect(response.body).toContain('ADMIN_TOKEN');
        const flush = await request(`${open.url()}/cache/flush`, { method: 'PUT' });
        expect(flush.status).toBe(403);
      } finally {
        await open.stop();
      }
    });
  });

  describe('uploads', () => {
    const content = Buffer.from('release tarball '.repeat(4096));

    it('PUT of a raw body → 201 with remote, path, size and sha256, then GET and HEAD serve it', async () => {
      const response = await put(`${api}/files/releases/v1/tool-1.0.tar.gz`, content, auth);
      expect(response.status).toBe(201);
      expect(JSON.parse(response.body)).toEqual({
        remote: 'files',
        path: 'releases/v1/tool-1.0.tar.gz',
        size: content.length,
        sha256: sha256Of(content),
      });
      const got = await request(`${api}/files/releases/v1/tool-1.0.tar.gz`);
      expect(got.status).toBe(200);
      expect(got.body.equals(content)).toBe(true);
      expect(got.headers).toMatchObject({
        'x-artifact-source': 'local',
        'x-artifact-size': String(content.length),
        'x-checksum-sha256': sha256Of(content),
        etag: `"${sha256Of(content)}"`,
        'content-type': 'application/gzip',
        'content-disposition': 'attachment; filename="tool-1.0.tar.gz"',
      });
      const head = await request(`${api}/files/releases/v1/tool-1.0.tar.gz`, { method: 'HEAD' });
      expect(head.headers['content-length']).toBe(String(content.length));
      expect(head.body.length).toBe(0);
      const range = await request(`${api}/files/releases/v1/tool-1.0.tar.gz`, {
        headers: { range: 'bytes=0-9' },
      });
      expect(range.status).toBe(206);
      // The record is written on the side: it arrives after the 201, within a few of the deferred
      // writes' 3 s retries when Postgres is slow (a CI run once took over 10 s).
      const rows = await waitFor(
        async () => {
          const found = await stack.query<{ size: string; sha256: string }>(
            `SELECT size, sha256 FROM hosted_files WHERE remote = 'files' AND path = 'releases/v1/tool-1.0.tar.gz'`,
          );
          return found.length > 0 ? found : null;
        },
        { description: 'the upload recorded in Postgres', timeoutMs: 30_000 },
      );
      expect(rows).toEqual([{ size: String(content.length), sha256: sha256Of(content) }]);
    });

    it('PUT with a multipart field named file', async () => {
      const form = multipart('file', 'bundle.tar', content);
      const response = await put(`${api}/files/bundles/bundle.tar`, form.body, {
        ...auth,
        'content-type': form.type,
      });
      expect(response.status).toBe(201);
      expect(JSON.parse(response.body)).toMatchObject({
        size: content.length,
        sha256: sha256Of(content),
      });
      expect((await request(`${api}/files/bundles/bundle.tar`)).body.equals(content)).toBe(true);
    });

    it('multipart without a file field, or malformed, → 400 and nothing stored', async () => {
      const form = multipart('other', 'x.tar', content);
      const wrongField = await put(`${api}/files/bundles/none.tar`, form.body, {
        ...auth,
        'content-type': form.type,
      });
      expect(wrongField.status).toBe(400);
      const broken = await put(`${api}/files/bundles/broken.tar`, Buffer.from('--xyz\r\ngarbage'), {
        ...auth,
        'content-type': 'multipart/form-data; boundary=xyz',
      });
      expect(broken.status).toBe(400);
      expect((await request(`${api}/files/bundles/none.tar`)).status).toBe(404);
      expect((await request(`${api}/files/bundles/broken.tar`)).status).toBe(404);
    });

    it('X-Checksum-Sha256 is verified: a match stores, a mismatch → 400 and nothing stored', async () => {
      const ok = await put(`${api}/files/checked/ok.bin`, content, {
        ...auth,
        'x-checksum-sha256': sha256Of(content),
      });
      expect(ok.status).toBe(201);
      const bad = await put(`${api}/files/checked/bad.bin`, content, {
        ...auth,
        'x-checksum-sha256': 'f'.repeat(64),
      });
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.body)).toMatchObject({ error: 'checksum_mismatch' });
      expect((await request(`${api}/files/checked/bad.bin`)).status).toBe(404);
    });

    it('an existing path → 409 unless the remote allows overwrite', async () => {
      expect(
        (await put(`${api}/files/releases/v1/tool-1.0.tar.gz`, Buffer.from('new'), auth)).status,
      ).toBe(409);
      expect((await request(`${api}/files/releases/v1/tool-1.0.tar.gz`)).body.equals(content)).toBe(
        true,
      );
      expect((await put(`${api}/scratch/latest.txt`, Buffer.from('one'), auth)).status).toBe(201);
      expect((await put(`${api}/scratch/latest.txt`, Buffer.from('two'), auth)).status).toBe(201);
      expect((await request(`${api}/scratch/latest.txt`)).body.toString()).toBe('two');
    });

    it('two concurrent PUTs of one path leave exactly one complete file, never a mix', async () => {
      const a = Buffer.alloc(8 * MiB, 'a');
      const b = Buffer.alloc(8 * MiB, 'b');
      const results = await Promise.all([
        put(`${api}/scratch/race.bin`, a, auth),
        put(`${api}/scratch/race.bin`, b, auth),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(expect.arrayContaining([201]));
      for (const result of results) {
        // 0: the loser was refused (409) while still sending, and the connection was cut.
        expect([201, 409, 0]).toContain(result.status);
      }
      const stored = await request(`${api}/scratch/race.bin`);
      expect([sha256Of(a), sha256Of(b)]).toContain(sha256Of(stored.body));
    });

    it('a 1 GiB upload streams to storage without growing the gateway', async () => {
      const size = 1024 * MiB;
      const pid = stack.gateways[0].pid!;
      const before = peakRssMiB(pid);
      const response = await put(`${api}/files/big/one-gib.bin`, generatedStream(size), auth);
      expect(response.status).toBe(201);
      expect(JSON.parse(response.body)).toMatchObject({ size, sha256: generatedSha256(size) });
      // A buffered upload would add about 1024 MiB; streaming adds a few buffers.
      expect(peakRssMiB(pid) - before).toBeLessThan(100);
      const back = await download(`${api}/files/big/one-gib.bin`);
      expect(back).toMatchObject({
        status: 200,
        size,
        sha256: generatedSha256(size),
        complete: true,
      });
    });

    it('PUT to a proxy remote → 400, to an unknown remote → 404', async () => {
      expect((await put(`${api}/gen/x.bin`, Buffer.from('x'), auth)).status).toBe(400);
      expect((await put(`${api}/nowhere/x.bin`, Buffer.from('x'), auth)).status).toBe(404);
    });
  });

  describe('listing and delete', () => {
    it('a path ending in / lists what is under it, JSON by default and HTML on request', async () => {
      const listing = await request(`${api}/files/releases/`);
      expect(listing.status).toBe(200);
      expect(JSON.parse(listing.body.toString())).toEqual({
        remote: 'files',
        path: 'releases/',
        entries: [{ name: 'v1', type: 'directory' }],
      });
      const root = JSON.parse((await request(`${api}/files/`)).body.toString()) as {
        entries: Array<{ name: string }>;
      };
      expect(root.entries.map((e) => e.name)).toEqual(['big', 'bundles', 'checked', 'releases']);
      const html = await request(`${api}/files/releases/v1/`, { headers: { accept: 'text/html' } });
      expect(html.headers['content-type']).toContain('text/html');
      expect(html.body.toString()).toContain('href="tool-1.0.tar.gz"');
    });

    it('DELETE → 204, then 404; on a proxy remote → 400', async () => {
      const first = await request(`${api}/files/checked/ok.bin`, {
        method: 'DELETE',
        headers: auth,
      });
      expect(first.status).toBe(204);
      expect((await request(`${api}/files/checked/ok.bin`)).status).toBe(404);
      expect(
        (await request(`${api}/files/checked/ok.bin`, { method: 'DELETE', headers: auth })).status,
      ).toBe(404);
      expect((await request(`${api}/gen/x.bin`, { method: 'DELETE', headers: auth })).status).toBe(
        400,
      );
      expect(
        (await request(`${api}/nowhere/x.bin`, { method: 'DELETE', headers: auth })).status,
      ).toBe(404);
    });
  });

  describe('path guard (raw paths, sent as written)', () => {
    // After the one decode the routes do, no segment may still hold an encoded '.', '/', '\\' or
    // NUL: a second decode anywhere (a proxy, the store, a web server) would turn it into `..`.
    const refused = [
      '/api/v1/remote/files/%252e%252e/files/x',
      '/api/v1/remote/files/a/%252E%252e/%252e%252e/x',
      '/api/v1/remote/files/a%252fb',
      '/api/v1/remote/files/a%255cb',
      '/api/v1/remote/files/a%2500b',
      '/api/v1/remote/files/%25252e%25252e/x',
      '/api/v1/remote/files/%2e%2e/x',
      '/api/v1/remote/files/a/../../x',
      '/api/v1/remote/files/.staging/x',
      '/api/v1/remote/%252e%252e/files/x',
      '/api/v1/remote/files%252f%252e%252e/x',
      '/api/v1/remote/%2e%2e/files/x',
    ];

    it.each(refused)('PUT %s → 400 bad_path and nothing stored', async (path) => {
      const before = stack.storedKeys();
      const response = await rawRequest(stack.url(), path, {
        method: 'PUT',
        headers: auth,
        body: Buffer.from('must not be stored'),
      });
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body.toString())).toMatchObject({ error: 'bad_path' });
      expect(stack.storedKeys()).toEqual(before);
      expect(before.filter((key) => key.includes('%'))).toEqual([]);
    });

    it.each(refused)('GET, HEAD and DELETE %s → 400', async (path) => {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        const response = await rawRequest(stack.url(), path, { method, headers: auth });
        expect({ method, status: response.status }).toEqual({ method, status: 400 });
      }
    });

    it('a listing whose directory is double encoded → 400', async () => {
      for (const path of ['/api/v1/remote/files/%252e%252e/', '/api/v1/remote/files/a%252f/']) {
        expect((await rawRequest(stack.url(), path)).status).toBe(400);
      }
    });
  });

  describe('cache flush', () => {
    it('drops one remote (objects, TTL markers, records) and leaves others and hosted files alone', async () => {
      upstream.set('gen/a.bin', { body: 'gen a' });
      upstream.set('other/b.bin', { body: 'other b' });
      await request(`${api}/gen/a.bin`);
      await request(`${api}/other/b.bin`);
      expect((await request(`${api}/gen/a.bin`)).headers['x-artifact-source']).toBe('cache');

      const response = await request(`${stack.url()}/cache/flush?remote=gen`, {
        method: 'PUT',
        headers: auth,
      });
      expect(response.status).toBe(200);
      const body = JSON.parse(response.body.toString());
      expect(body.remote).toBe('gen');
      expect(body.flushed.s3_objects).toBe(1);
      expect(body.flushed).toHaveProperty('redis_keys');

      expect((await request(`${api}/other/b.bin`)).headers['x-artifact-source']).toBe('cache');
      expect((await request(`${api}/files/releases/v1/tool-1.0.tar.gz`)).status).toBe(200);
      const again = await request(`${api}/gen/a.bin`);
      expect(again.headers['x-artifact-source']).toBe('remote');
      expect(upstream.count('gen/a.bin')).toBe(2);
    });

    it('flush of everything answers the seed shape', async () => {
      const response = await request(`${stack.url()}/cache/flush`, {
        method: 'PUT',
        headers: auth,
      });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toMatchObject({
        flushed: { redis_keys: expect.any(Number), s3_objects: expect.any(Number) },
        remote: null,
      });
      expect((await request(`${api}/other/b.bin`)).headers['x-artifact-source']).toBe('remote');
      expect((await request(`${api}/files/releases/v1/tool-1.0.tar.gz`)).status).toBe(200);
    });

    it('an unknown remote → 404', async () => {
      const response = await request(`${stack.url()}/cache/flush?remote=nope`, {
        method: 'PUT',
        headers: auth,
      });
      expect(response.status).toBe(404);
    });

    it('a remote name with encoded dots or slashes is only ever an unknown remote: 404, nothing flushed', async () => {
      upstream.set('gen/kept.bin', { body: 'kept' });
      await request(`${api}/gen/kept.bin`);
      const before = stack.storedKeys();
      expect(before).toContain('gen/kept.bin');
      // The name is looked up in the remotes file; storage only ever sees a configured name.
      for (const name of ['%252e%252e', '..', '%2e%2e', 'gen%2f..', 'gen%252f..', '__proto__']) {
        const response = await rawRequest(stack.url(), `/cache/flush?remote=${name}`, {
          method: 'PUT',
          headers: auth,
        });
        expect({ name, status: response.status }).toEqual({ name, status: 404 });
      }
      expect(stack.storedKeys()).toEqual(before);
    });
  });
});

describe("the README's hosted-files example, pasted into a shell", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({
      remotes: { hosted: { package: 'local' } },
      fetchers: 0,
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(() => stack?.stop());

  it('uploads (raw and multipart), downloads, lists and deletes', async () => {
    const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
    const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((match) => match[1])
      .find((text) => text.includes('/api/v1/remote/hosted/tools/tool.tar.gz'));
    expect(block).toBeDefined();
    const dir = await scratchDir('readme-example');
    writeFileSync(join(dir, 'tool.tar.gz'), 'a tool, packed');
    const script = block!.replaceAll('http://cache.example.org:8080', stack.url());
    await runCommand('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: dir,
      env: { ...process.env, ADMIN_TOKEN: TOKEN },
      timeoutMs: 30_000,
    });
    expect(readFileSync(join(dir, 'tool.tar.gz'), 'utf8')).toBe('a tool, packed');
    const listed = await request(`${stack.url()}/api/v1/remote/hosted/tools/`);
    expect(listed.body.toString()).toContain('tool.tar.gz.sha256');
    expect((await request(`${stack.url()}/api/v1/remote/hosted/tools/tool.tar.gz`)).status).toBe(
      404,
    );
  });
});
