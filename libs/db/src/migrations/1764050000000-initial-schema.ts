import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1764050000000 implements MigrationInterface {
  name = 'InitialSchema1764050000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE cached_artifacts (
        id bigserial PRIMARY KEY,
        remote text NOT NULL,
        path text NOT NULL,
        storage_key text NOT NULL,
        size bigint NOT NULL,
        sha256 char(64) NOT NULL,
        content_type text,
        upstream_etag text,
        upstream_last_modified text,
        fetched_at timestamptz NOT NULL,
        last_accessed_at timestamptz,
        hit_count bigint NOT NULL DEFAULT 0
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX cached_artifacts_remote_path ON cached_artifacts (remote, path)`,
    );
    await queryRunner.query(`
      CREATE TABLE hosted_files (
        id bigserial PRIMARY KEY,
        remote text NOT NULL,
        path text NOT NULL,
        storage_key text NOT NULL,
        size bigint NOT NULL,
        sha256 char(64) NOT NULL,
        content_type text,
        uploaded_at timestamptz NOT NULL,
        last_accessed_at timestamptz,
        hit_count bigint NOT NULL DEFAULT 0
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX hosted_files_remote_path ON hosted_files (remote, path)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE hosted_files`);
    await queryRunner.query(`DROP TABLE cached_artifacts`);
  }
}
