/**
 * npm run bench -- streaming: one cold 1 GiB fetch from an upstream limited to about 20 MiB/s,
 * 16 clients spread over 2 gateways (2 fetchers), against a direct download of the same file.
 * Prints time to first byte, total times, and the peak RSS (VmHWM) of every process.
 * Knobs: BENCH_SIZE_MIB (1024), BENCH_RATE_MIB (20), BENCH_STORAGE (fs|s3),
 * BENCH_NODE_OPTIONS (replaces the apps' NODE_OPTIONS, e.g. to compare heap settings).
 */
import { mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Service, startServices } from '../tools/services';
import { download } from '../test/helpers/http';
import { Stack } from '../test/helpers/stack';
import { UpstreamServer, generatedSha256 } from '../test/helpers/upstream-server';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MiB;
const RATE = Number(process.env.BENCH_RATE_MIB ?? 20) * MiB;
const CLIENTS = 16;

function peakRssMiB(pid: number | undefined): string {
  if (!pid) {
    return '-';
  }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return (kb / 1024).toFixed(0);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'artifactcache-bench-'));
  chmodSync(dir, 0o755);
  const services: Service[] = [];
  const upstream = new UpstreamServer();
  let stack: Stack | null = null;
  try {
    const { redis, postgres, s3 } = await startServices(dir, {
      database: 'bench',
      bucket: 'bench',
    });
    services.push(redis, postgres, s3);
    Object.assign(process.env, {
      TEST_TMP_DIR: dir,
      TEST_REDIS_URL: redis.url,
      TEST_DATABASE_URL: postgres.url,
      TEST_S3_ENDPOINT: s3.endpoint,
      TEST_S3_ACCESS_KEY_ID: s3.accessKeyId,
      TEST_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
    await upstream.start();
    upstream.set('files/big.bin', { size: SIZE, rate: RATE });
    const expected = generatedSha256(SIZE);

    process.stdout.write(`direct download of ${SIZE / MiB} MiB at ${RATE / MiB} MiB/s ...\n`);
    const directStart = performance.now();
    const direct = await download(`${upstream.url}/files/big.bin`);
    const directSeconds = (performance.now() - directStart) / 1000;
    if (direct.sha256 !== expected) {
      throw new Error('direct download has the wrong bytes');
    }

    stack = await Stack.start({
      remotes: { files: { package: 'generic', base_url: `${upstream.url}/files` } },
      gateways: 2,
      fetchers: 2,
      storage: process.env.BENCH_STORAGE === 's3' ? 's3' : 'fs',
      env: {
        ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
        ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
      },
    });
    process.stdout.write(`${CLIENTS} clients through the cache (cold) ...\n`);
    const started = performance.now();
    const firstByte: number[] = [];
    const totals = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        let first = 0;
        // Hashing 16 streams would make this process the bottleneck on 2 cores: one client per
        // gateway checks the digest, the others the size (the e2e specs check every body).
        const result = await download(
          `${stack!.url(i % 2)}/api/v1/remote/files/big.bin`,
          () => {
            first ||= performance.now() - started;
          },
          { hash: i < 2 },
        );
        firstByte.push(first);
        if (!result.complete || result.size !== SIZE || (i < 2 && result.sha256 !== expected)) {
          throw new Error(`client ${i} got a wrong or broken body`);
        }
        return (performance.now() - started) / 1000;
      }),
    );
    const rows: Array<[string, string]> = [
      [
        'file',
        `${SIZE / MiB} MiB, upstream limited to ${RATE / MiB} MiB/s, ${CLIENTS} clients over 2 gateways`,
      ],
      ['upstream GETs by the cache', String(upstream.count('files/big.bin') - 1)],
      ['time to first byte (first client)', `${(Math.min(...firstByte) / 1000).toFixed(2)} s`],
      ['time to first byte (slowest client)', `${(Math.max(...firstByte) / 1000).toFixed(2)} s`],
      ['direct download', `${directSeconds.toFixed(1)} s`],
      ['through the cache (slowest client)', `${Math.max(...totals).toFixed(1)} s`],
      ['ratio cache / direct', (Math.max(...totals) / directSeconds).toFixed(3)],
      ...stack.gateways.map((g, i): [string, string] => [
        `peak RSS gateway ${i}`,
        `${peakRssMiB(g.pid)} MiB`,
      ]),
      ...stack.fetchers.map((f, i): [string, string] => [
        `peak RSS fetcher ${i}`,
        `${peakRssMiB(f.pid)} MiB`,
      ]),
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write('\n' + rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
  } finally {
    await stack?.stop();
    await upstream.stop();
    await Promise.allSettled(services.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
