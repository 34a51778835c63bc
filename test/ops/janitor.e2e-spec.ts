import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from '../helpers/stack';
import { UpstreamServer } from '../helpers/upstream-server';
import { waitFor } from '../../tools/wait-for';
import { requireEnv } from '../helpers/isolated-services';

/**
 * Interrupted work leaves files behind: a `.partial` blob of a write a crash cut short, the spool
 * directory of a fetcher killed for good. The fetchers' janitor removes them once they are older
 * than LEFTOVER_MAX_AGE, and never anything younger or anything in use.
 */
describe('the janitor', () => {
  const upstream = new UpstreamServer();
  let stack: Stack;
  const tmp = join(requireEnv('TEST_TMP_DIR'), `janitor-${randomUUID()}`);
  const spoolRoot = join(tmp, `artifactcache-${process.getuid?.() ?? 'user'}`);

  beforeAll(async () => {
    mkdirSync(tmp, { recursive: true });
    await upstream.start();
    stack = await Stack.start({
      remotes: { files: { package: 'generic', base_url: `${upstream.url}/files` } },
      // Its own temp dir: the spool root it sweeps holds only this test's fetchers.
      env: { TMPDIR: tmp, JANITOR_INTERVAL: '1', LEFTOVER_MAX_AGE: '30' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await upstream.stop();
  });

  it('removes old .partial blobs and dead fetchers spool dirs, keeps what is young or alive', async () => {
    const hourAgo = new Date(Date.now() - 3600_000);
    const shard = join(stack.storagePath, 'blobs', 'ee');
    mkdirSync(shard, { recursive: true });
    const oldPartial = join(shard, `${randomUUID()}.partial`);
    const youngPartial = join(shard, `${randomUUID()}.partial`);
    writeFileSync(oldPartial, 'cut short by a crash');
    writeFileSync(youngPartial, 'being written right now');
    utimesSync(oldPartial, hourAgo, hourAgo);

    // A fetcher that died: its pid is gone.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const deadSpool = join(spoolRoot, 'spool-1');
    mkdirSync(deadSpool, { recursive: true });
    writeFileSync(join(deadSpool, '.owner'), String(dead));
    writeFileSync(join(deadSpool, randomUUID()), 'a spool file of a killed fetch');
    // A live process owns this one (the test itself stands in for a fetcher).
    const liveSpool = join(spoolRoot, 'spool-2');
    mkdirSync(liveSpool, { recursive: true });
    writeFileSync(join(liveSpool, '.owner'), String(process.pid));

    await waitFor(() => !existsSync(oldPartial) && !existsSync(deadSpool), {
      description: 'the janitor to remove the old leftovers',
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    expect(existsSync(youngPartial)).toBe(true);
    expect(existsSync(liveSpool)).toBe(true);
    // The running fetcher's own spool dir is never touched.
    expect(existsSync(join(spoolRoot, `spool-${stack.fetchers[0].port}`, '.owner'))).toBe(true);

    // And the cache works as before.
    upstream.set('files/after.bin', { body: 'after the sweep' });
    const response = await fetch(`${stack.url()}/api/v1/remote/files/after.bin`);
    expect(await response.text()).toBe('after the sweep');
  });
});
