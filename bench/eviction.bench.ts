/**
 * npm run bench -- eviction: one eviction pass over BENCH_RECORDS (1,000,000) records of a
 * capped remote, run by the fetcher on its own schedule, while 8 clients keep asking the gateway
 * for a cached file. Prints the pass time, what it removed, and the hit latencies (p50, p99)
 * before and during the pass, side by side. The records are written straight into Postgres
 * (their objects do not exist: a pass then times the records, not the disk); one real file is
 * fetched through the cache and hit.
 * BENCH_PACKAGE=docker makes the records images instead: each a manifest that names eight blobs
 * of its own and a base layer shared by 100 images (so the pass checks every docker record
 * against the manifests it keeps).
 * Knobs: BENCH_RECORDS (1000000), BENCH_EVICT_SHARE (0.15: the share of the bytes over the cap),
 * BENCH_PACKAGE (generic | docker).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startPostgres, startRedis, type Service } from '../tools/services';
import { waitFor } from '../tools/wait-for';
import { Stack } from '../test/helpers/stack';
import { UpstreamServer } from '../test/helpers/upstream-server';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const SHARE = Number(process.env.BENCH_EVICT_SHARE ?? 0.15);
const PACKAGE = process.env.BENCH_PACKAGE === 'docker' ? 'docker' : 'generic';
const RECORD_BYTES = 1024;
const CLIENTS = 8;
/** Docker: blobs of an image's own, and images that share one base layer. */
const OWN_BLOBS = 8;
const BASE_SHARED_BY = 100;

const hexOf = (text: string) => `encode(sha256(convert_to(${text}, 'UTF8')), 'hex')`;

/** Records of a generic remote `bulk`: one file each, used in order. */
const GENERIC_RECORDS = `
  INSERT INTO cached_artifacts
    (remote, path, storage_key, size, sha256, fetched_at, last_accessed_at, content_shared)
  SELECT 'bulk', 'f/' || n, 'bulk/f/' || n, $2, ${hexOf(`'f' || n`)},
         now() - interval '30 days' + n * interval '1 ms', now() - interval '10 days' + n * interval '1 ms',
         true
    FROM generate_series(1, $1) AS n`;

/**
 * Records of a docker remote `bulk`, as pulls leave them: image i's manifest (by tag) names its
 * own blobs and its group's base layer, all used when it was; a base layer as late as the last
 * image of its group. $1: images.
 */
const DOCKER_RECORDS = [
  `INSERT INTO cached_artifacts
     (remote, path, storage_key, size, sha256, refers_to, fetched_at, last_accessed_at)
   SELECT 'bulk', 'img' || i || '/manifests/latest', 'bulk/img' || i || '/_tags/latest', $2,
          ${hexOf(`'m' || i`)},
          ARRAY[${hexOf(`'base' || (i / ${BASE_SHARED_BY})`)}] ||
            ARRAY(SELECT ${hexOf(`'b' || i || '-' || j`)} FROM generate_series(1, ${OWN_BLOBS}) AS j),
          now() - interval '30 days', now() - interval '10 days' + i * interval '1 ms'
     FROM generate_series(1, $1) AS i`,
  `INSERT INTO cached_artifacts (remote, path, storage_key, size, sha256, fetched_at, last_accessed_at)
   SELECT 'bulk', 'img' || i || '/blobs/sha256:' || h, 'bulk/_blobs/sha256/' || h, $2, h,
          now() - interval '30 days', now() - interval '10 days' + i * interval '1 ms'
     FROM generate_series(1, $1) AS i, generate_series(1, ${OWN_BLOBS}) AS j,
          LATERAL (SELECT ${hexOf(`'b' || i || '-' || j`)} AS h) AS blob`,
  `INSERT INTO cached_artifacts (remote, path, storage_key, size, sha256, fetched_at, last_accessed_at)
   SELECT 'bulk', 'img' || (g * ${BASE_SHARED_BY}) || '/blobs/sha256:' || h,
          'bulk/_blobs/sha256/' || h, $2, h, now() - interval '30 days',
          now() - interval '10 days' + LEAST((g + 1) * ${BASE_SHARED_BY} - 1, $1) * interval '1 ms'
     FROM generate_series(0, $1 / ${BASE_SHARED_BY}) AS g,
          LATERAL (SELECT ${hexOf(`'base' || g`)} AS h) AS base`,
];

/** [when it ended (epoch ms), how long it took (ms)] of each hit while `running()` holds. */
async function hitLatencies(url: string, running: () => boolean): Promise<Array<[number, number]>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: Array<[number, number]> = [];
  const client = async (): Promise<void> => {
    while (running()) {
      const began = performance.now();
      await new Promise<void>((resolve, reject) => {
        http
          .get(url, { agent }, (response) => {
            response.resume();
            response.on('end', () =>
              response.statusCode === 200
                ? resolve()
                : reject(new Error(`status ${response.statusCode}`)),
            );
          })
          .on('error', reject);
      });
      latencies.push([Date.now(), performance.now() - began]);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  agent.destroy();
  return latencies;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'artifactcache-bench-'));
  chmodSync(dir, 0o755);
  const services: Service[] = [];
  const upstream = new UpstreamServer();
  let stack: Stack | null = null;
  try {
    const [redis, postgres] = await Promise.all([
      startRedis({ dataDir: join(dir, 'redis') }),
      startPostgres({ dataDir: join(dir, 'postgres'), database: 'bench' }),
    ]);
    services.push(redis, postgres);
    Object.assign(process.env, {
      TEST_TMP_DIR: dir,
      TEST_REDIS_URL: redis.url,
      TEST_DATABASE_URL: postgres.url,
    });
    await upstream.start();
    upstream.set('files/hot.bin', { body: Buffer.alloc(64 * 1024, 7) });
    const images = Math.round(RECORDS / (OWN_BLOBS + 1 + 1 / BASE_SHARED_BY));
    const records =
      PACKAGE === 'docker'
        ? images * (OWN_BLOBS + 1) + Math.floor(images / BASE_SHARED_BY) + 1
        : RECORDS;
    const total = records * RECORD_BYTES;
    const cap = Math.floor(total * (1 - SHARE));
    stack = await Stack.start({
      remotes: {
        files: { package: 'generic', base_url: `${upstream.url}/files` },
        bulk: { package: PACKAGE, base_url: `${upstream.url}/bulk`, max_size: String(cap) },
      },
      // Long enough to load the records and measure hits first; the pass then runs by itself,
      // and collects what it evicted in the same pass (a 1 s grace: about the most a pass can have
      // to do).
      storage_limits: { evict_interval: 120, gc_grace: 1 },
    });
    const hot = `${stack.url()}/api/v1/remote/files/hot.bin`;
    await fetch(hot).then((response) => response.arrayBuffer());

    process.stdout.write(`writing ${records} ${PACKAGE} records ...\n`);
    const db = new Client({ connectionString: stack.databaseUrl });
    await db.connect();
    for (const statement of PACKAGE === 'docker' ? DOCKER_RECORDS : [GENERIC_RECORDS]) {
      await db.query(statement, [PACKAGE === 'docker' ? images : RECORDS, RECORD_BYTES]);
    }
    await db.query('ANALYZE cached_artifacts');

    const startedAt = Date.now();
    let measuring = true;
    const hits = hitLatencies(hot, () => measuring);
    const fetcherLog = () => stack?.fetchers[0].log() ?? '';
    const line = await waitFor(
      () =>
        /evicted (\d+) files \((\d+) bytes\), collected (\d+) unreferenced contents .* in ([\d.]+) s/.exec(
          fetcherLog(),
        ),
      { description: 'the fetcher to finish its pass', timeoutMs: 10 * 60_000, intervalMs: 100 },
    );
    const passEnd = Date.now();
    const passStart = passEnd - Number(line[4]) * 1000;
    measuring = false;
    const all = await hits;
    const quiet = all.filter(([at]) => at < passStart).map(([, ms]) => ms);
    const busy = all.filter(([at]) => at >= passStart && at <= passEnd).map(([, ms]) => ms);
    const left = await db.query<{ n: string; bytes: string }>(
      `SELECT count(*) AS n, sum(size) AS bytes FROM cached_artifacts WHERE remote = 'bulk'`,
    );
    await db.end();
    process.stdout.write(
      [
        '',
        `records: ${records} ${PACKAGE} (${(total / 1024 ** 3).toFixed(2)} GiB), cap ${(cap / 1024 ** 3).toFixed(2)} GiB`,
        `pass: removed ${line[1]} files (${(Number(line[2]) / 1024 ** 3).toFixed(2)} GiB) and collected ` +
          `${line[3]} unreferenced contents in ${line[4]} s ` +
          `(waited ${((Date.now() - startedAt) / 1000).toFixed(0)} s for the schedule); ${left.rows[0].n} records left, ` +
          `${(Number(left.rows[0].bytes) / 1024 ** 3).toFixed(2)} GiB`,
        `hits before the pass: ${quiet.length} requests, p50 ${quantile(quiet, 0.5).toFixed(2)} ms, p99 ${quantile(quiet, 0.99).toFixed(2)} ms`,
        `hits during the pass: ${busy.length} requests, p50 ${quantile(busy, 0.5).toFixed(2)} ms, p99 ${quantile(busy, 0.99).toFixed(2)} ms`,
        '',
      ].join('\n'),
    );
  } finally {
    await stack?.stop();
    await upstream.stop();
    await Promise.allSettled(services.map((service) => service.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
