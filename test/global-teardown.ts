/** Jest globalTeardown for the `e2e` project: stops what test/global-setup.ts started. */
import * as fsp from 'node:fs/promises';
import { e2eState } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const state = e2eState();
  if (!state) {
    return;
  }
  const began = Date.now();
  const results = await Promise.allSettled(state.handles.map((h) => h.stop()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    const reasons = failed.map((f) => (f.reason instanceof Error ? f.reason.message : f.reason));
    throw new Error(
      `e2e global teardown: stopping services failed (left ${state.tmpDir}):\n` +
        reasons.join('\n'),
    );
  }
  await fsp.rm(state.tmpDir, { recursive: true, force: true });
  process.stdout.write(`e2e services stopped in ${((Date.now() - began) / 1000).toFixed(1)} s\n`);
}
