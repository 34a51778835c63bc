import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { registryKeys } from '@app/formats';
import { type FetchedResponse, rawRequest } from './helpers/http';
import {
  escapeFault,
  keyFault,
  rawPath,
  rawRegistryRest,
  rawRemote,
} from './helpers/path-properties';
import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';
import { waitFor } from '../tools/wait-for';

const TOKEN = 'path-properties-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const HTTP = { http: true };
const HTTP_BENIGN = { http: true, benign: true };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Files the upstream has, so that some generated requests are real misses, hits and stores. */
const GENERIC_FILES = ['gen/file.bin', 'gen/a', 'gen/d/file.bin', 'gen/library/alpine'];

interface Outcome {
  method: string;
  path: string;
  status: number;
  body: string;
}

interface Planned {
  method: string;
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
}

/** Sends `planned` with at most `limit` requests in flight; a connection error is an outcome. */
async function sendAll(origin: string, planned: Planned[], limit: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < planned.length) {
      const { method, path, body, headers } = planned[next++];
      let response: FetchedResponse | null = null;
      let error = '';
      try {
        response = await rawRequest(origin, path, { method, headers, body });
      } catch (caught) {
        error = `connection error: ${(caught as NodeJS.ErrnoException).code ?? String(caught)}`;
      }
      // A request line Node's parser refuses (raw bytes above 0x7f) is answered by Fastify's
      // clientError handler, with a JSON body even to a HEAD, which the client cannot parse.
      // That answer does not depend on the method: read its status with a GET.
      if (method === 'HEAD' && error.includes('HPE_')) {
        const get = await rawRequest(origin, path, { headers }).catch(() => null);
        if (get !== null) {
          response = get;
          error = '';
        }
      }
      outcomes.push({
        method,
        path,
        status: response?.status ?? 0,
        // Whole for a stored PUT (its JSON names the key), cut for the failure messages otherwise.
        body: response
          ? response.body.toString('utf8').slice(0, response.status === 201 ? undefined : 300)
          : error,
      });
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return outcomes;
}

const serverFailures = (outcomes: Outcome[]) =>
  outcomes.filter((outcome) => outcome.status === 0 || outcome.status >= 500);

/**
 * Generated raw URLs against a real gateway, fetcher, fs storage and a loopback upstream: no
 * answer is a 5xx, nothing is stored outside `keys/<remote>/` of the remote the request named,
 * and the upstream is never asked for anything outside the remote's base path.
 */
describe('path properties against a running gateway (generated raw URLs)', () => {
  const upstream = new UpstreamServer();
  // Printed with every failure; PATH_PROPERTY_SEED=<seed> replays the same requests.
  const seed = Number(process.env.PATH_PROPERTY_SEED) || Date.now() % 2 ** 31;
  let stack: Stack;
  let manifestHex: string;
  let dirBefore: string[];
  /** `<remote>/<path>` of every generated PUT answered 201 */
  const stored = new Set<string>();

  beforeAll(async () => {
    await upstream.start();
    for (const path of GENERIC_FILES) {
      upstream.set(path, { body: `bytes of ${path}` });
    }
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }),
    );
    manifestHex = createHash('sha256').update(manifest).digest('hex');
    const file = {
      body: manifest,
      contentType: OCI_MANIFEST,
      headers: { 'docker-content-digest': `sha256:${manifestHex}` },
    };
    upstream.set('registry/v2/library/alpine/manifests/latest', file);
    upstream.set(`registry/v2/library/alpine/manifests/sha256:${manifestHex}`, file);
    stack = await Stack.start({
      remotes: {
        gen: { package: 'generic', base_url: `${upstream.url}/gen`, negative_ttl: 60 },
        local: { package: 'local', allow_overwrite: true },
        hub: { package: 'docker', base_url: `${upstream.url}/registry`, mutable_ttl: 60 },
      },
      docker: { default_remote: 'hub' },
      env: { ADMIN_TOKEN: TOKEN },
    });
    dirBefore = readdirSync(stack.dir).sort();
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  /**
   * Every file under `keys/` is a valid key under the remote whose request stored it: generic
   * keys are files the upstream has, hosted keys were answered 201, docker keys belong to the one
   * published manifest. Nothing else appeared in the stack's directory or the storage root.
   */
  async function expectStorageClean(): Promise<void> {
    const allowed: Record<string, (key: string) => boolean> = {
      gen: (key) => GENERIC_FILES.includes(key),
      local: (key) => key === 'local/ok/x.bin' || stored.has(key),
      hub: (key) =>
        key === registryKeys.manifestByTag('hub', 'library/alpine', 'latest') ||
        key === registryKeys.manifestByDigest('hub', 'library/alpine', manifestHex),
    };
    const faults = () =>
      stack.storedKeys().flatMap((key) => {
        const remote = key.split('/')[0];
        const fault = Object.hasOwn(allowed, remote)
          ? (keyFault(key, remote) ?? (allowed[remote](key) ? null : 'no request stored it'))
          : 'not under a configured remote';
        return fault === null ? [] : [{ key, fault }];
      });
    // A HEAD of a manifest lets its fetch finish after the answer: wait for its temp record to go.
    await waitFor(
      () => {
        const found = faults();
        if (found.length > 0) {
          throw new Error(JSON.stringify({ seed, found }));
        }
        return true;
      },
      { description: 'storage holding only valid keys', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(stack.storedKeys()).toContain('local/ok/x.bin');
    expect(readdirSync(stack.storagePath).sort()).toEqual(['blobs', 'content', 'keys']);
    expect(readdirSync(stack.dir).sort()).toEqual(dirBefore);
  }

  it('known-good requests succeed, so the checks below see stored files', async () => {
    const outcomes = await sendAll(
      stack.url(),
      [
        { method: 'GET', path: '/api/v1/remote/gen/file.bin' },
        { method: 'GET', path: '/api/v1/remote/gen/d/file.bin' },
        {
          method: 'PUT',
          path: '/api/v1/remote/local/ok/x.bin',
          headers: auth,
          body: Buffer.from('x'),
        },
        { method: 'GET', path: '/v2/hub/library/alpine/manifests/latest' },
        { method: 'GET', path: '/v2/library/alpine/manifests/latest' },
      ],
      1,
    );
    expect(outcomes.map(({ path, status }) => ({ path, status }))).toEqual([
      { path: '/api/v1/remote/gen/file.bin', status: 200 },
      { path: '/api/v1/remote/gen/d/file.bin', status: 200 },
      { path: '/api/v1/remote/local/ok/x.bin', status: 201 },
      { path: '/v2/hub/library/alpine/manifests/latest', status: 200 },
      { path: '/v2/library/alpine/manifests/latest', status: 200 },
    ]);
  });

  it('generated GET, HEAD, PUT and DELETE on the artifact, hosted and /v2 routes never answer 5xx', async () => {
    const sample = <T>(arbitrary: fc.Arbitrary<T>, numRuns: number, offset: number) =>
      fc.sample(arbitrary, { numRuns, seed: seed + offset });
    const artifact = fc
      .tuple(
        fc.constantFrom('GET', 'HEAD'),
        rawRemote(['gen', 'local'], HTTP),
        fc.oneof(rawPath(HTTP), rawPath(HTTP_BENIGN)),
      )
      .map(([method, remote, path]) => ({ method, path: `/api/v1/remote/${remote}/${path}` }));
    const hosted = fc
      .tuple(
        fc.constantFrom('PUT', 'PUT', 'DELETE'),
        rawRemote(['local'], HTTP),
        fc.oneof(rawPath(HTTP), rawPath(HTTP_BENIGN)),
      )
      .map(([method, remote, path]) => ({
        method,
        path: `/api/v1/remote/${remote}/${path}`,
        headers: auth,
        body: method === 'PUT' ? Buffer.from(`put ${path}`.slice(0, 64)) : undefined,
      }));
    const registry = fc
      .tuple(
        fc.constantFrom('GET', 'HEAD'),
        fc.oneof(rawRegistryRest('hub', HTTP), rawRegistryRest('hub', HTTP_BENIGN)),
      )
      .map(([method, rest]) => ({ method, path: `/v2/${rest}` }));
    const planned: Planned[] = [
      ...sample(artifact, 240, 1),
      ...sample(hosted, 160, 2),
      ...sample(registry, 160, 3),
    ];
    const outcomes = await sendAll(stack.url(), planned, 4);
    for (const outcome of outcomes) {
      if (outcome.method === 'PUT' && outcome.status === 201) {
        const { remote, path } = JSON.parse(outcome.body) as { remote: string; path: string };
        stored.add(`${remote}/${path}`);
      }
    }
    expect(outcomes).toHaveLength(planned.length);
    expect({ seed, failures: serverFailures(outcomes) }).toEqual({ seed, failures: [] });
    // Not vacuous: the generator reached the guard's both sides.
    const statuses = outcomes.map((outcome) => outcome.status);
    expect(statuses.filter((status) => status === 400).length).toBeGreaterThan(50);
    expect(statuses.filter((status) => status !== 400).length).toBeGreaterThan(50);
  });

  it('every stored file is a valid key under the remote that stored it', async () => {
    expect(stack.storedKeys()).toEqual(
      expect.arrayContaining(['gen/file.bin', 'gen/d/file.bin', 'local/ok/x.bin']),
    );
    await expectStorageClean();
  });

  it('the upstream was never asked for a path outside the remote base path, however decoded', () => {
    expect(upstream.requests.length).toBeGreaterThan(0);
    const faults = upstream.requests.flatMap((request) => {
      const target = request.target.split('?')[0];
      const base = target.startsWith('/registry/') ? '/registry/' : '/gen/';
      const fault = escapeFault(target, base);
      return fault === null ? [] : [{ method: request.method, target: request.target, fault }];
    });
    expect({ seed, faults }).toEqual({ seed, faults: [] });
  });

  it('generated admin, flush, queue-board and docs paths never answer 5xx', async () => {
    const piece = rawPath(HTTP);
    const admin = fc.oneof(
      piece.map((id) => ({ method: 'POST', path: `/admin/api/queues/jobs/${id}/retry` })),
      piece.map((id) => ({ method: 'DELETE', path: `/admin/api/queues/jobs/${id}` })),
      piece.map((path) => ({ method: 'GET', path: `/admin/queues/static/${path}` })),
      piece.map((path) => ({ method: 'GET', path: `/docs/assets/${path}` })),
      rawRemote(['gen', 'hub', 'local'], HTTP).map((name) => ({
        method: 'PUT',
        path: `/cache/flush?remote=${name}`,
      })),
    );
    const planned = fc
      .sample(admin, { numRuns: 100, seed: seed + 4 })
      .map((request) => ({ ...request, headers: auth }));
    // One at a time: these are not about concurrency, and a flush is easier to judge alone.
    const outcomes = await sendAll(stack.url(), planned, 1);
    expect({ seed, failures: serverFailures(outcomes) }).toEqual({ seed, failures: [] });
    // The queue board's static files and the docs assets: never a file from above their roots.
    const leaked = outcomes.filter((outcome) => outcome.body.includes('"name": "artifact-cache"'));
    expect(leaked).toEqual([]);
    await expectStorageClean();
  });
});
