import { DataSource } from 'typeorm';
import { CachedArtifact } from './entities/cached-artifact.entity';
import { HostedFile } from './entities/hosted-file.entity';
import { InitialSchema1764050000000 } from './migrations/1764050000000-initial-schema';
import { LastUseIndex1796200000000 } from './migrations/1796200000000-last-use-index';
import { ManifestReferences1796900000000 } from './migrations/1796900000000-manifest-references';
import { SharedContents1797000000000 } from './migrations/1797000000000-shared-contents';

const ENTITIES = [CachedArtifact, HostedFile];
const MIGRATIONS = [
  InitialSchema1764050000000,
  LastUseIndex1796200000000,
  ManifestReferences1796900000000,
  SharedContents1797000000000,
];

/** Longest any query may take, from the client's side (pg's query_timeout). */
const POSTGRES_QUERY_TIMEOUT_MS = 5000;

/** Postgres through TypeORM; the schema comes from migrations only, never `synchronize`. */
export function createDataSource(databaseUrl: string): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    logging: ['error'],
    // Every query has a client-side deadline too: statement_timeout is the server's own, and a
    // partitioned server (connection open, nothing answering) never applies it.
    extra: {
      max: 10,
      connectionTimeoutMillis: 3000,
      statement_timeout: 10_000,
      query_timeout: POSTGRES_QUERY_TIMEOUT_MS,
    },
  });
}

// Several gateways and fetchers may start at once against one database: one of them migrates
// while the others wait on this advisory lock, then find nothing left to do.
const MIGRATION_LOCK_ID = 7_420_001;

export async function runMigrationsLocked(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]).catch(() => undefined);
    await runner.release();
  }
}
