// Preloaded into the apps by the soak only (NODE_OPTIONS="--expose-gc --require <this file>"):
// when the soak drops `<SOAK_GC_PROBE_DIR>/<pid>.request`, run a full garbage collection and
// write what is left to `<pid>.json`. RSS read at a random moment lands anywhere on the
// collector's sawtooth (a gateway swung between 145 and 250 MiB); after a full collection it is
// the memory the process really holds. A file, not a signal: Nest's shutdown hooks take SIGUSR2.
'use strict';
const { existsSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.SOAK_GC_PROBE_DIR;
if (dir && typeof global.gc === 'function') {
  const request = join(dir, `${process.pid}.request`);
  const timer = setInterval(() => {
    if (!existsSync(request)) {
      return;
    }
    const id = readFileSync(request, 'utf8');
    rmSync(request, { force: true });
    global.gc();
    const usage = process.memoryUsage();
    const result = join(dir, `${process.pid}.json`);
    writeFileSync(`${result}.tmp`, JSON.stringify({ id, ...usage }));
    renameSync(`${result}.tmp`, result);
  }, 200);
  timer.unref();
}
