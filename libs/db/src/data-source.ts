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
// while the others wait for this advisory lock, then find nothing left to do.
const MIGRATION_LOCK_ID = 7_420_001;
/** How long a process waits for another one's migration before it gives up (and retries later). */
const MIGRATION_WAIT_MS = 120_000;
const MIGRATION_POLL_MS = 200;

export async function runMigrationsLocked(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  let locked = false;
  try {
    // Polled rather than waited for in one statement: a session blocked in pg_advisory_lock is
    // a running statement, which the migrating session's CREATE INDEX CONCURRENTLY waits out,
    // while it waits for the lock that session holds. Postgres broke that deadlock by failing one
    // of them, and the process whose migration failed wrote nothing for seconds.
    const deadline = Date.now() + MIGRATION_WAIT_MS;
    while (!locked) {
      const rows = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [
        MIGRATION_LOCK_ID,
      ])) as Array<{ locked: boolean }>;
      locked = rows[0]?.locked === true;
      if (!locked) {
        if (Date.now() > deadline) {
          throw new Error(
            `another process has been migrating the schema for over ${MIGRATION_WAIT_MS / 1000} s`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, MIGRATION_POLL_MS));
      }
    }
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    if (locked) {
      await runner
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID])
        .catch(() => undefined);
    }
    await runner.release();
  }
}
