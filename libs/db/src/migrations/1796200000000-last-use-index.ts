import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Eviction reads cached files least recently used first, per remote (docs/STORAGE.md): an index
 * on the order it reads them in. Built CONCURRENTLY (outside a transaction), so a running cache
 * keeps recording fetches and hits while it is built.
 */
export class LastUseIndex1796200000000 implements MigrationInterface {
  name = 'LastUseIndex1796200000000';
  transaction = false as const;

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS cached_artifacts_last_use
         ON cached_artifacts (remote, (COALESCE(last_accessed_at, fetched_at)), id)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS cached_artifacts_last_use`);
  }
}
