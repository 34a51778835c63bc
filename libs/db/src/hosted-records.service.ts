import { Injectable } from '@nestjs/common';
import { DatabaseService } from './database.service';

export interface HostedFileRecord {
  remote: string;
  path: string;
  storageKey: string;
  size: number;
  sha256: string;
  contentType: string | null;
}

/** Durable metadata of files uploaded to hosted (`local`) remotes. */
@Injectable()
export class HostedRecordsService {
  constructor(private readonly database: DatabaseService) {}

  async upsert(record: HostedFileRecord): Promise<void> {
    await this.database.requireSource().query(
      `INSERT INTO hosted_files
         (remote, path, storage_key, size, sha256, content_type, uploaded_at, content_shared)
       VALUES ($1, $2, $3, $4, $5, $6, now(), true)
       ON CONFLICT (remote, path) DO UPDATE SET
         storage_key = EXCLUDED.storage_key, size = EXCLUDED.size, sha256 = EXCLUDED.sha256,
         content_type = EXCLUDED.content_type, uploaded_at = now(), content_shared = true`,
      [
        record.remote,
        record.path,
        record.storageKey,
        record.size,
        record.sha256,
        record.contentType,
      ],
    );
  }

  async delete(remote: string, path: string): Promise<void> {
    await this.database
      .requireSource()
      .query(`DELETE FROM hosted_files WHERE remote = $1 AND path = $2`, [remote, path]);
  }

  async find(
    remote: string,
    path: string,
  ): Promise<(HostedFileRecord & { hitCount: number }) | null> {
    const rows: Array<Record<string, unknown>> = await this.database.requireSource().query(
      `SELECT remote, path, storage_key, size, sha256, content_type, hit_count
         FROM hosted_files WHERE remote = $1 AND path = $2`,
      [remote, path],
    );
    const row = rows[0];
    if (!row) {
      return null;
    }
    return {
      remote: row.remote as string,
      path: row.path as string,
      storageKey: row.storage_key as string,
      size: Number(row.size),
      sha256: (row.sha256 as string).trim(),
      contentType: row.content_type as string | null,
      hitCount: Number(row.hit_count),
    };
  }
}
