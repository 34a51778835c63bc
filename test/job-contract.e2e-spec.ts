import { Queue, QueueEvents } from 'bullmq';
import { FETCH_JOB, FETCH_QUEUE, type FetchJobPayload, fetchJobId } from '@app/jobs';
import { request } from './helpers/http';
import { Stack } from './helpers/stack';
import { UpstreamServer } from './helpers/upstream-server';

const TOKEN = 'job-contract-token';

/**
 * Anyone who can write to Redis or use the queue UI can add a fetch job. The fetcher derives the
 * storage key and the upstream URL from the job's remote and path alone, so a forged job can do
 * no more than a client request for that path: it never overwrites another key (hosted files
 * included) and never fetches a URL of its choosing.
 */
describe('fetch jobs are not trusted', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  let queue: Queue<FetchJobPayload>;
  let events: QueueEvents;

  beforeAll(async () => {
    await upstream.start();
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files` },
        hosted: { package: 'local', allow_overwrite: true },
      },
      env: { ADMIN_TOKEN: TOKEN },
    });
    queue = new Queue(FETCH_QUEUE, { connection: { url: stack.redisUrl } });
    events = new QueueEvents(FETCH_QUEUE, { connection: { url: stack.redisUrl } });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await events?.close();
    await queue?.close();
    await stack?.stop();
    await upstream.stop();
  });

  async function run(data: Omit<FetchJobPayload, 'requestedAt'>): Promise<string> {
    const job = await queue.add(
      FETCH_JOB,
      { ...data, requestedAt: Date.now() },
      { jobId: fetchJobId(data.remote, data.path), attempts: 1 },
    );
    return job.waitUntilFinished(events, 30_000).then(
      () => 'completed',
      (error: Error) => `failed: ${error.message}`,
    );
  }

  it('a job naming another storage key and upstream path fetches its own path, into its own key', async () => {
    const put = await fetch(`${stack.url()}/api/v1/remote/hosted/readme.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: 'the original upload',
    });
    expect(put.status).toBe(201);
    upstream.set('files/innocent.bin', { body: 'innocent bytes' });
    upstream.set('files/chosen/by/the/forger', { body: 'forged bytes' });

    const outcome = await run({
      remote: 'files',
      path: 'innocent.bin',
      kind: 'immutable',
      storageKey: 'hosted/readme.txt',
      upstreamPath: 'chosen/by/the/forger',
    });
    expect(outcome).toBe('completed');

    const hosted = await request(`${stack.url()}/api/v1/remote/hosted/readme.txt`);
    expect(hosted.body.toString()).toBe('the original upload');
    const fetched = await request(`${stack.url()}/api/v1/remote/files/innocent.bin`);
    expect(fetched.headers['x-artifact-source']).toBe('cache');
    expect(fetched.body.toString()).toBe('innocent bytes');
    expect(upstream.count('files/innocent.bin')).toBe(1);
    expect(upstream.count('files/chosen/by/the/forger')).toBe(0);
  });

  it.each([
    ['a path that climbs out of the remote', 'files', '../hosted/readme.txt'],
    ['a hosted remote', 'hosted', 'readme.txt'],
    ['a remote that does not exist', 'nowhere', 'x.bin'],
    ['an empty path', 'files', ''],
  ])('%s is refused for good and changes nothing', async (_what, remote, path) => {
    const outcome = await run({
      remote,
      path,
      kind: 'immutable',
      storageKey: 'hosted/readme.txt',
      upstreamPath: 'chosen/by/the/forger',
    });
    expect(outcome).toMatch(/^failed: upstream_unavailable: /);
    const hosted = await request(`${stack.url()}/api/v1/remote/hosted/readme.txt`);
    expect(hosted.body.toString()).toBe('the original upload');
    expect(upstream.count('files/chosen/by/the/forger')).toBe(0);
  });
});
