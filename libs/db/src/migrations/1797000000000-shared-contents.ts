import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One stored copy per content (docs/STORAGE.md): storage keeps each content once, by sha256, and
 * a content whose last record went is collected after a grace period. A trigger notes every
 * digest a record stops naming (deleted, or overwritten with other bytes) in
 * `unreferenced_contents`; the collector checks that nothing names it again before removing it
 * (`seen`: the content's version in storage at the collector's first look, where storage needs
 * two looks).
 * `content_shared` is false for records stored by older releases, whose objects hold bytes of
 * their own until an eviction pass makes them share (no refetch; in place, while serving).
 * Adding a column with a constant default rewrites nothing; the indexes are built CONCURRENTLY.
 */
export class SharedContents1797000000000 implements MigrationInterface {
  name = 'SharedContents1797000000000';
  transaction = false as const;

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS unreferenced_contents (
         sha256 char(64) PRIMARY KEY,
         since timestamptz NOT NULL DEFAULT now(),
         seen text
       )`,
    );
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS unreferenced_contents_since ON unreferenced_contents (since)`,
    );
    for (const table of ['cached_artifacts', 'hosted_files']) {
      await queryRunner.query(
        `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS content_shared boolean NOT NULL DEFAULT false`,
      );
      await createIndexConcurrently(queryRunner, `${table}_sha256`, `ON ${table} (sha256)`);
      await createIndexConcurrently(
        queryRunner,
        `${table}_unshared`,
        `ON ${table} (id) WHERE NOT content_shared`,
      );
    }
    await queryRunner.query(
      `CREATE OR REPLACE FUNCTION note_unreferenced_content() RETURNS trigger
         LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'UPDATE' AND OLD.sha256 = NEW.sha256 THEN
           RETURN NULL;
         END IF;
         INSERT INTO unreferenced_contents (sha256) VALUES (OLD.sha256)
           ON CONFLICT (sha256) DO UPDATE SET since = now(), seen = NULL;
         RETURN NULL;
       END $$`,
    );
    for (const table of ['cached_artifacts', 'hosted_files']) {
      await queryRunner.query(`DROP TRIGGER IF EXISTS ${table}_unreferenced ON ${table}`);
      await queryRunner.query(
        `CREATE TRIGGER ${table}_unreferenced AFTER DELETE OR UPDATE OF sha256 ON ${table}
           FOR EACH ROW EXECUTE FUNCTION note_unreferenced_content()`,
      );
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['cached_artifacts', 'hosted_files']) {
      await queryRunner.query(`DROP TRIGGER IF EXISTS ${table}_unreferenced ON ${table}`);
      await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${table}_unshared`);
      await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${table}_sha256`);
      await queryRunner.query(`ALTER TABLE ${table} DROP COLUMN IF EXISTS content_shared`);
    }
    await queryRunner.query(`DROP FUNCTION IF EXISTS note_unreferenced_content()`);
    await queryRunner.query(`DROP TABLE IF EXISTS unreferenced_contents`);
  }
}

/**
 * A build that failed (a timeout, a deadlock) leaves an invalid index of its name behind, which
 * IF NOT EXISTS would then keep for good: it is dropped and built again.
 */
async function createIndexConcurrently(
  queryRunner: QueryRunner,
  name: string,
  definition: string,
): Promise<void> {
  const invalid = (await queryRunner.query(
    `SELECT 1 FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
      WHERE c.relname = $1 AND NOT i.indisvalid`,
    [name],
  )) as unknown[];
  if (invalid.length > 0) {
    await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  }
  await queryRunner.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ${definition}`);
}
