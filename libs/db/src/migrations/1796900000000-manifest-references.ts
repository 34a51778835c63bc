import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Docker eviction (docs/STORAGE.md) keeps what a cached manifest still refers to: every
 * manifest record lists the digests it names (`refers_to`, null until known: the eviction pass
 * fills it in for records written before this column), and records are found by digest. Adding
 * a nullable column rewrites nothing; the indexes are built CONCURRENTLY (outside a transaction),
 * so a running cache keeps recording fetches and hits meanwhile. The GIN index has no pending
 * list (fastupdate off): only manifests are in it, and with one the planner, costing the list's
 * scan, read the whole table for each lookup after a burst of fetches.
 */
export class ManifestReferences1796900000000 implements MigrationInterface {
  name = 'ManifestReferences1796900000000';
  transaction = false as const;

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE cached_artifacts ADD COLUMN IF NOT EXISTS refers_to text[]`,
    );
    await queryRunner.query(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS cached_artifacts_refers_to
         ON cached_artifacts USING gin (refers_to) WITH (fastupdate = off)
         WHERE refers_to IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS cached_artifacts_remote_sha256
         ON cached_artifacts (remote, sha256)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS cached_artifacts_remote_sha256`);
    await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS cached_artifacts_refers_to`);
    await queryRunner.query(`ALTER TABLE cached_artifacts DROP COLUMN IF EXISTS refers_to`);
  }
}
