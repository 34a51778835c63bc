import { Injectable } from '@nestjs/common';
import { DatabaseService } from './database.service';

/** A content a record stopped naming (deleted, or overwritten with other bytes). */
export interface UnreferencedContent {
  sha256: string;
  /** when the last record stopped naming it */
  since: Date;
  /** `since` exactly as Postgres has it (microseconds), to match the note again */
  sinceExact: string;
  /** its version in storage at the collector's first look (CollectResult 'seen'), if any */
  seen: string | null;
}

export type RecordTable = 'cached_artifacts' | 'hosted_files';

/** A record whose object an older release stored with bytes of its own. */
export interface UnsharedRecord {
  table: RecordTable;
  id: string;
  storageKey: string;
}

/**
 * The records' side of one stored copy per content (docs/STORAGE.md): which contents no record
 * names (noted by a trigger on both record tables), which records still hold bytes of their own,
 * and what sharing saves. The eviction pass is the only caller.
 */
@Injectable()
export class ContentRecordsService {
  constructor(private readonly database: DatabaseService) {}

  /** Contents no record named since before `before`, longest unreferenced first. */
  async unreferenced(before: Date, limit: number): Promise<UnreferencedContent[]> {
    const rows: Array<{ sha256: string; exact: string; seen: string | null }> = await this.database
      .requireSource()
      .query(
        `SELECT sha256, since::text AS exact, seen FROM unreferenced_contents
          WHERE since < $1 ORDER BY since LIMIT $2`,
        [before.toISOString(), limit],
      );
    return rows.map((row) => ({
      sha256: row.sha256.trim(),
      since: new Date(row.exact),
      sinceExact: row.exact,
      seen: row.seen,
    }));
  }

  /** Of these digests, those a cached or a hosted record names. */
  async named(sha256s: readonly string[]): Promise<Set<string>> {
    if (sha256s.length === 0) {
      return new Set();
    }
    const rows: Array<{ sha256: string }> = await this.database.requireSource().query(
      `SELECT sha256 FROM cached_artifacts WHERE sha256 = ANY($1::bpchar[])
       UNION SELECT sha256 FROM hosted_files WHERE sha256 = ANY($1::bpchar[])`,
      [sha256s],
    );
    return new Set(rows.map((row) => row.sha256.trim()));
  }

  /** Drops these notes, unless a record stopped naming the content again since they were read. */
  async forget(contents: readonly UnreferencedContent[]): Promise<void> {
    await this.matching(contents, 'DELETE FROM unreferenced_contents u USING');
  }

  /**
   * Notes these again from now, each with the version storage showed (`seen`; null to start
   * over): a later pass looks at them once the grace period is over. Unless noted anew meanwhile.
   */
  async noteAgain(contents: readonly UnreferencedContent[]): Promise<void> {
    await this.matching(
      contents,
      'UPDATE unreferenced_contents u SET since = now(), seen = v.seen FROM',
    );
  }

  private async matching(
    contents: readonly UnreferencedContent[],
    statement: string,
  ): Promise<void> {
    if (contents.length === 0) {
      return;
    }
    await this.database.requireSource().query(
      `${statement} unnest($1::bpchar[], $2::timestamptz[], $3::text[]) AS v(sha256, since, seen)
        WHERE u.sha256 = v.sha256 AND u.since = v.since`,
      [
        contents.map((c) => c.sha256),
        contents.map((c) => c.sinceExact),
        contents.map((c) => c.seen),
      ],
    );
  }

  /** Records whose objects hold bytes of their own (stored by older releases), oldest first. */
  async unshared(limit: number): Promise<UnsharedRecord[]> {
    const rows: Array<{ t: RecordTable; id: string; storage_key: string }> = await this.database
      .requireSource()
      .query(
        `(SELECT 'cached_artifacts' AS t, id::text AS id, storage_key FROM cached_artifacts
           WHERE NOT content_shared ORDER BY id LIMIT $1)
         UNION ALL
         (SELECT 'hosted_files' AS t, id::text AS id, storage_key FROM hosted_files
           WHERE NOT content_shared ORDER BY id LIMIT $1)`,
        [limit],
      );
    return rows.map((row) => ({ table: row.t, id: row.id, storageKey: row.storage_key }));
  }

  async markShared(table: RecordTable, ids: readonly string[]): Promise<void> {
    if (ids.length > 0) {
      await this.database
        .requireSource()
        .query(`UPDATE ${table} SET content_shared = true WHERE id = ANY($1::bigint[])`, [ids]);
    }
  }

  /**
   * Bytes that sharing saves across keys: a content that records of N different storage keys
   * name counts N-1 times (the same layer through two docker remotes, the same file through two
   * generic remotes, a manifest under its tag and its digest).
   */
  async sharedContentBytes(): Promise<number> {
    const rows: Array<{ bytes: string }> = await this.database.requireSource().query(
      `SELECT COALESCE(sum(size * (copies - 1)), 0)::text AS bytes
         FROM (SELECT max(size) AS size, count(DISTINCT storage_key) AS copies
                 FROM (SELECT sha256, size, storage_key FROM cached_artifacts WHERE content_shared
                       UNION ALL
                       SELECT sha256, size, storage_key FROM hosted_files WHERE content_shared) AS o
                GROUP BY sha256 HAVING count(DISTINCT storage_key) > 1) AS d`,
    );
    return Number(rows[0]?.bytes ?? 0);
  }
}
