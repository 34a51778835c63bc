import { createHash } from 'node:crypto';
import { request } from './helpers/http';
import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';
import { waitFor } from '../tools/wait-for';

const TOKEN = 'logs-admin-token';

type Line = Record<string, unknown>;

/**
 * docs/OPERATIONS.md "Logs" (issue 19, item 2): JSON lines in files, each naming its app with a
 * UTC timestamp; one access line per request, its X-Request-Id sent back and carried into the
 * fetcher's lines; an audit line for what changes something, naming the token by fingerprint.
 */
describe('logs', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  const linesOf = (text: string): Line[] =>
    text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Line);
  const gatewayLines = () => linesOf(stack.gateways[0].log());
  const accessLine = (requestId: string) =>
    waitFor(
      () =>
        gatewayLines().find((line) => line.context === 'access' && line.request_id === requestId),
      { description: `the access line of ${requestId}`, timeoutMs: 5000 },
    );

  beforeAll(async () => {
    await upstream.start();
    upstream.set('files/a.bin', { body: 'forty-two bytes of a file fetched upstream' });
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files` },
        hosted: { package: 'local' },
      },
      // access lines are on by default: ACCESS_LOG is not set
      env: { ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('writes one access line per request, a miss and a hit, with the request id sent back and carried to the fetcher', async () => {
    const miss = await request(`${stack.url()}/api/v1/remote/files/a.bin`, {
      headers: { 'x-request-id': 'build-17.miss' },
    });
    expect(miss.headers['x-artifact-source']).toBe('remote');
    expect(miss.headers['x-request-id']).toBe('build-17.miss');
    const hit = await request(`${stack.url()}/api/v1/remote/files/a.bin`, {
      headers: { 'x-request-id': 'build-17.hit' },
    });
    expect(hit.headers['x-artifact-source']).toBe('cache');
    expect(hit.headers['x-request-id']).toBe('build-17.hit');
    // One the client did not name gets one made, and sent back.
    const unnamed = await request(`${stack.url()}/api/v1/remote/files/a.bin`, {
      headers: { 'x-request-id': 'not a token!' },
    });
    expect(unnamed.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);

    expect(await accessLine('build-17.miss')).toMatchObject({
      level: 'info',
      app: 'gateway',
      method: 'GET',
      path: '/api/v1/remote/files/a.bin',
      remote: 'files',
      route: 'artifact',
      source: 'remote',
      status: 200,
      completed: true,
    });
    expect(await accessLine('build-17.hit')).toMatchObject({
      source: 'cache',
      status: 200,
      bytes: 42,
      completed: true,
    });
    await accessLine(String(unnamed.headers['x-request-id']));
    // The fetcher logs the job once it ends, which can be after its client had every byte.
    const fetcherLine = () =>
      stack.fetchers[0]
        .log()
        .split('\n')
        .filter((line) => line.includes('[build-17.miss]'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)[0];
    const line = await waitFor(fetcherLine, {
      description: "the fetcher's line for the miss",
      timeoutMs: 10_000,
    });
    expect(line).toMatchObject({
      app: 'fetcher',
      msg: expect.stringMatching(/^files a\.bin \[build-17\.miss\] stored 42 bytes in /),
      request_id: 'build-17.miss',
      remote: 'files',
      path: 'a.bin',
      outcome: 'stored',
      bytes: 42,
    });
  });

  it('writes an audit line for an upload and a delete, naming the token by its fingerprint only', async () => {
    const fingerprint = createHash('sha256').update(TOKEN).digest('hex').slice(0, 12);
    const upload = await request(`${stack.url()}/api/v1/remote/hosted/notes.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'x-request-id': 'upload-1' },
      body: 'kept here',
    });
    expect(upload.status).toBe(201);
    const refused = await request(`${stack.url()}/api/v1/remote/hosted/notes.txt`, {
      method: 'DELETE',
      headers: { 'x-request-id': 'delete-anonymous' },
    });
    expect(refused.status).toBe(401);
    const audits = () => gatewayLines().filter((line) => line.context === 'audit');
    await waitFor(() => audits().length >= 2, { description: 'two audit lines', timeoutMs: 5000 });
    expect(audits()).toEqual([
      expect.objectContaining({
        request_id: 'upload-1',
        method: 'PUT',
        path: '/api/v1/remote/hosted/notes.txt',
        status: 201,
        who: fingerprint,
      }),
      expect.objectContaining({ request_id: 'delete-anonymous', status: 401, who: null }),
    ]);
    expect(stack.gateways[0].log()).not.toContain(TOKEN);
  });

  it('writes nothing but JSON lines that name their app, in UTC, without the route-mapping chatter', () => {
    for (const [app, text] of [
      ['gateway', stack.gateways[0].log()],
      ['fetcher', stack.fetchers[0].log()],
    ] as const) {
      expect(text).not.toContain('\u001b[');
      const lines = text.split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThan(2);
      expect(lines.filter((line) => !line.startsWith('{'))).toEqual([]);
      for (const line of linesOf(text)) {
        expect(line).toMatchObject({ app, time: expect.stringMatching(/^\d{4}-.*Z$/) });
        expect(['debug', 'info', 'warn', 'error']).toContain(line.level);
      }
      expect(linesOf(text).some((line) => line.context === 'RouterExplorer')).toBe(false);
    }
  });
});
