import { Client } from 'pg';
import type { AppConfig } from '@app/config';
import { ArtifactRecordsService } from '../src/artifact-records.service';
import { DatabaseService } from '../src/database.service';
import { HitRecorder } from '../src/hit-recorder.service';

async function freshDatabase(name: string): Promise<string> {
  const base = new URL(process.env.TEST_DATABASE_URL!);
  const client = new Client({ connectionString: base.href });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${name}`);
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  base.pathname = `/${name}`;
  return base.href;
}

function serviceFor(databaseUrl: string): DatabaseService {
  return new DatabaseService({ databaseUrl } as AppConfig);
}

describe('Postgres through TypeORM (real server)', () => {
  let url: string;
  let database: DatabaseService;
  let records: ArtifactRecordsService;

  beforeAll(async () => {
    url = await freshDatabase(`db_spec_${process.pid}`);
    database = serviceFor(url);
    await database.onModuleInit();
    records = new ArtifactRecordsService(database);
  });

  afterAll(() => database.onApplicationShutdown());

  it('migrations create the tables; several processes migrating at once do not collide', async () => {
    const others = [serviceFor(url), serviceFor(url), serviceFor(url)];
    await Promise.all(others.map((other) => other.ready()));
    await Promise.all(others.map((other) => other.onApplicationShutdown()));
    const source = await database.ready();
    const applied: Array<{ name: string }> = await source.query(
      'SELECT name FROM schema_migrations ORDER BY id',
    );
    expect(applied.map((row) => row.name)).toEqual([
      'InitialSchema1764050000000',
      'LastUseIndex1796200000000',
      'ManifestReferences1796900000000',
      'SharedContents1797000000000',
    ]);
    // Built outside a transaction (CONCURRENTLY) and valid: eviction reads through them.
    const indexes: Array<{ relname: string; indisvalid: boolean }> = await source.query(
      `SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = ANY($1) ORDER BY c.relname`,
      [
        [
          'cached_artifacts_last_use',
          'cached_artifacts_refers_to',
          'cached_artifacts_remote_sha256',
          'cached_artifacts_sha256',
          'cached_artifacts_unshared',
          'hosted_files_sha256',
          'hosted_files_unshared',
        ],
      ],
    );
    expect(indexes).toEqual([
      { relname: 'cached_artifacts_last_use', indisvalid: true },
      { relname: 'cached_artifacts_refers_to', indisvalid: true },
      { relname: 'cached_artifacts_remote_sha256', indisvalid: true },
      { relname: 'cached_artifacts_sha256', indisvalid: true },
      { relname: 'cached_artifacts_unshared', indisvalid: true },
      { relname: 'hosted_files_sha256', indisvalid: true },
      { relname: 'hosted_files_unshared', indisvalid: true },
    ]);
  });

  it('records a fetched artifact and updates it when fetched again', async () => {
    const base = {
      remote: 'rpm-test',
      path: 'repo/repodata/repomd.xml',
      storageKey: 'rpm-test/repo/repodata/repomd.xml',
      contentType: 'application/xml',
      upstreamEtag: '"1"',
      upstreamLastModified: null,
    };
    await records.recordFetched({ ...base, size: 10, sha256: 'a'.repeat(64) });
    await records.recordFetched({ ...base, size: 12, sha256: 'b'.repeat(64) });
    const row = await records.find('rpm-test', 'repo/repodata/repomd.xml');
    expect(row).toMatchObject({ size: 12, sha256: 'b'.repeat(64), hitCount: 0 });
  });

  it('adds hit counts in batches off the request path', async () => {
    await records.recordFetched({
      remote: 'gen',
      path: 'a.tar.gz',
      storageKey: 'gen/a.tar.gz',
      size: 1,
      sha256: 'c'.repeat(64),
      contentType: null,
      upstreamEtag: null,
      upstreamLastModified: null,
    });
    const recorder = new HitRecorder(records);
    for (let i = 0; i < 5; i += 1) {
      recorder.record('cached_artifacts', 'gen', 'a.tar.gz');
    }
    recorder.record('cached_artifacts', 'gen', 'never-fetched.bin');
    await recorder.flush();
    const row = await records.find('gen', 'a.tar.gz');
    expect(row?.hitCount).toBe(5);
    expect(row?.lastAccessedAt).toBeInstanceOf(Date);
  });

  it('keeps hit counts while Postgres is unreachable', async () => {
    const down = serviceFor('postgres://nobody@127.0.0.1:9/none');
    await down.onModuleInit();
    expect(down.dataSource()).toBeNull();
    const recorder = new HitRecorder(new ArtifactRecordsService(down));
    recorder.record('cached_artifacts', 'gen', 'a.tar.gz');
    recorder.record('cached_artifacts', 'gen', 'a.tar.gz');
    await recorder.flush();
    expect(recorder.pendingCount).toBe(1);
    await down.onApplicationShutdown();
  });

  it('deletes the records of one remote', async () => {
    expect(await records.deleteRemote('gen')).toBe(1);
    expect(await records.find('gen', 'a.tar.gz')).toBeNull();
    expect(await records.find('rpm-test', 'repo/repodata/repomd.xml')).not.toBeNull();
  });
});
