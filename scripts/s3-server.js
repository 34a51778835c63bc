#!/usr/bin/env node
// An S3-compatible server for tests and local runs (s3rver, filesystem-backed), in its own
// process so that it never shares an event loop with the code under test: a test that blocks
// its loop must not also stall the storage it is waiting on.
//
//   node scripts/s3-server.js --dir DIR --bucket NAME [--port N]   (port 0 / omitted = any free)
//
// Prints one JSON line on stdout once it listens: {"port":N,"bucket":"NAME"}. Credentials: any
// (s3rver accepts S3RVER/S3RVER and does not check others strictly). Stops on SIGTERM/SIGINT.
'use strict';

const fs = require('node:fs/promises');
const path = require('node:path');
const { parseArgs } = require('node:util');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

// s3rver removes a directory once its last object is deleted, racing a concurrent PUT into the
// same directory (mkdir done, open not yet): the PUT's file stream then fails unhandled and the
// whole server dies. A real S3 has no directories; here they are only removed when no object
// lands in them meanwhile, and the staging and content directories (every write passes through
// them) never are.
FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  await Promise.all(
    ['object', 'object.md5', 'metadata.json'].map((resource) =>
      fs.unlink(this.getResourcePath(bucket, key, resource)).catch((error) => {
        if (error.code !== 'ENOENT') throw error;
      }),
    ),
  );
  const parts = key.split('/').slice(0, -1);
  const kept = ['.staging', '.staging-content'];
  while (parts.length > 0 && !(parts.length === 1 && kept.includes(parts[0]))) {
    try {
      await fs.rmdir(path.join(this.getBucketPath(bucket), ...parts));
    } catch (error) {
      if (error.code === 'ENOTEMPTY' || error.code === 'ENOENT' || error.code === 'EEXIST') break;
      throw error;
    }
    parts.pop();
  }
};

async function main() {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, bucket: { type: 'string' }, port: { type: 'string' } },
  });
  const port = Number(values.port ?? 0);
  if (!values.dir || !values.bucket || !Number.isInteger(port)) {
    throw new Error('usage: s3-server.js --dir DIR --bucket NAME [--port N]');
  }
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    directory: values.dir,
    silent: true,
    configureBuckets: [{ name: values.bucket }],
  });
  const address = await server.run();
  process.stdout.write(`${JSON.stringify({ port: address.port, bucket: values.bucket })}\n`);
  const shutdown = () => {
    // Keep-alive connections from SDK clients would hold close() open; the process is going away.
    setTimeout(() => process.exit(0), 2000).unref();
    server.close(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err) => {
  process.stderr.write(`s3-server: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
