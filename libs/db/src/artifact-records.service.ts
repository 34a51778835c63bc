import { Injectable } from '@nestjs/common';
import { DatabaseService } from './database.service';

export interface FetchedArtifactRecord {
  remote: string;
  path: string;
  storageKey: string;
  size: number;
  sha256: string;
  contentType: string | null;
  upstreamEtag: string | null;
  upstreamLastModified: string | null;
  /** a docker manifest's: the digests (hex) it names; null for every other file */
  refersTo?: string[] | null;
}

export interface HitCount {
  remote: string;
  path: string;
  hits: number;
  lastAccessedAt: Date;
}

/** What a remote holds, from the records (the usage view and eviction). */
export interface RemoteUsage {
  remote: string;
  /** stored objects: records that share one (docker blobs of several images) count once */
  objects: number;
  /** bytes of those objects */
  bytes: number;
  /** the least recent last use (last hit, or fetch when never hit); null when it holds nothing */
  oldestUse: Date | null;
}

/** A cached file in eviction's terms: its last use is its last hit, or its fetch. */
export interface UsedRecord {
  id: string;
  remote: string;
  path: string;
  storageKey: string;
  size: number;
  /** hex digest of the content */
  sha256: string;
  lastUsed: Date;
  /** lastUsed exactly as Postgres has it (microseconds): where the next page starts */
  lastUsedExact: string;
  /** the fetch this record describes, exactly as Postgres has it */
  fetchedAt: string;
  /** the same, as a date (milliseconds) */
  fetchedDate: Date;
}

/** A cached file as the console lists it. */
export interface BrowsedRecord {
  path: string;
  size: number;
  sha256: string;
  contentType: string | null;
  hits: number;
  lastAccessedAt: Date | null;
  fetchedAt: Date;
}

const LAST_USE = 'COALESCE(last_accessed_at, fetched_at)';

/** Durable records of cached artifacts (docs/ARCHITECTURE.md). Never on the hit path; see HitRecorder. */
@Injectable()
export class ArtifactRecordsService {
  constructor(private readonly database: DatabaseService) {}

  async recordFetched(record: FetchedArtifactRecord): Promise<void> {
    await this.database.requireSource().query(
      `INSERT INTO cached_artifacts
         (remote, path, storage_key, size, sha256, content_type, upstream_etag,
          upstream_last_modified, refers_to, fetched_at, content_shared)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), true)
       ON CONFLICT (remote, path) DO UPDATE SET
         storage_key = EXCLUDED.storage_key, size = EXCLUDED.size, sha256 = EXCLUDED.sha256,
         content_type = EXCLUDED.content_type, upstream_etag = EXCLUDED.upstream_etag,
         upstream_last_modified = EXCLUDED.upstream_last_modified,
         refers_to = EXCLUDED.refers_to, fetched_at = now(), content_shared = true`,
      [
        record.remote,
        record.path,
        record.storageKey,
        record.size,
        record.sha256,
        record.contentType,
        record.upstreamEtag,
        record.upstreamLastModified,
        record.refersTo ?? null,
      ],
    );
  }

  /**
   * Adds a batch of hit counts in one statement; then a docker manifest's hit counts as a use of
   * everything it refers to, an index's down to its manifests' blobs (clients skip the layers
   * they hold, so a blob's own hits say little about whether its image is used).
   */
  async addHits(table: 'cached_artifacts' | 'hosted_files', counts: HitCount[]): Promise<void> {
    if (counts.length === 0) {
      return;
    }
    await this.database.requireSource().query(
      `UPDATE ${table} AS t
          SET hit_count = t.hit_count + v.hits,
              last_accessed_at = GREATEST(COALESCE(t.last_accessed_at, v.at), v.at)
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[])
              AS v(remote, path, hits, at)
        WHERE t.remote = v.remote AND t.path = v.path`,
      [
        counts.map((c) => c.remote),
        counts.map((c) => c.path),
        counts.map((c) => c.hits),
        counts.map((c) => c.lastAccessedAt.toISOString()),
      ],
    );
    if (table === 'cached_artifacts') {
      await this.useReferenced(counts.filter((c) => c.path.includes('/manifests/')));
    }
  }

  /**
   * Carries the manifests' last access to the other copies of the same document (by tag and by
   * digest) and to the records they refer to, two levels down.
   */
  private async useReferenced(counts: HitCount[]): Promise<void> {
    if (counts.length === 0) {
      return;
    }
    await this.database.requireSource().query(
      `WITH RECURSIVE used(remote, sha256, at, depth) AS (
         SELECT t.remote, t.sha256::bpchar, v.at, 0
           FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS v(remote, path, at)
           JOIN cached_artifacts t ON t.remote = v.remote AND t.path = v.path
         UNION ALL
         SELECT m.remote, child::bpchar, u.at, u.depth + 1
           FROM used u
           JOIN cached_artifacts m ON m.remote = u.remote AND m.sha256 = u.sha256
           CROSS JOIN LATERAL unnest(m.refers_to) AS child
          WHERE u.depth < 2
       )
       UPDATE cached_artifacts AS c
          SET last_accessed_at = GREATEST(COALESCE(c.last_accessed_at, u.at), u.at)
         FROM (SELECT remote, sha256, max(at) AS at FROM used GROUP BY remote, sha256) AS u
        WHERE c.remote = u.remote AND c.sha256 = u.sha256`,
      [
        counts.map((c) => c.remote),
        counts.map((c) => c.path),
        counts.map((c) => c.lastAccessedAt.toISOString()),
      ],
    );
  }

  async find(remote: string, path: string) {
    const rows: Array<Record<string, unknown>> = await this.database.requireSource().query(
      `SELECT remote, path, storage_key, size, sha256, content_type, hit_count, last_accessed_at,
              fetched_at
         FROM cached_artifacts WHERE remote = $1 AND path = $2`,
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
      sha256: row.sha256 as string,
      contentType: row.content_type as string | null,
      hitCount: Number(row.hit_count),
      lastAccessedAt: row.last_accessed_at as Date | null,
      fetchedAt: row.fetched_at as Date,
    };
  }

  /**
   * Up to `limit` records of a remote, by path: those under a path prefix, or those whose
   * content has a digest (hex sha256), for the console's browsing. `hosted_files` for a hosted
   * remote, whose `fetchedAt` is then the upload's time.
   */
  async browse(
    table: 'cached_artifacts' | 'hosted_files',
    remote: string,
    filter: { prefix: string } | { sha256: string },
    limit: number,
  ): Promise<BrowsedRecord[]> {
    const [condition, value] =
      'sha256' in filter
        ? ['sha256 = $2', filter.sha256]
        : ['starts_with(path, $2)', filter.prefix];
    const stored = table === 'hosted_files' ? 'uploaded_at' : 'fetched_at';
    const rows: Array<Record<string, unknown>> = await this.database.requireSource().query(
      `SELECT path, size, sha256, content_type, hit_count, last_accessed_at, ${stored} AS fetched_at
         FROM ${table} WHERE remote = $1 AND ${condition} ORDER BY path LIMIT $3`,
      [remote, value, limit],
    );
    return rows.map(browsedRecord);
  }

  /**
   * A manifest's record and those of what it names, two levels down (an index's platform
   * manifests, then their config and layers), cached under the same image (`under`, the path
   * prefix its manifests and blobs share), the manifest first; at most `limit`.
   */
  async browseReferences(
    remote: string,
    manifestPath: string,
    under: string,
    limit: number,
  ): Promise<BrowsedRecord[]> {
    const rows: Array<Record<string, unknown>> = await this.database.requireSource().query(
      `WITH RECURSIVE listed(path, refers_to, depth) AS (
         SELECT path, refers_to, 0 FROM cached_artifacts WHERE remote = $1 AND path = $2
         UNION
         SELECT c.path, c.refers_to, l.depth + 1
           FROM listed l CROSS JOIN LATERAL unnest(l.refers_to) AS child
           JOIN cached_artifacts c
             ON c.remote = $1 AND c.sha256 = child AND starts_with(c.path, $3)
          WHERE l.depth < 2
       ), nearest AS (
         SELECT path, min(depth) AS depth FROM listed GROUP BY path
       )
       SELECT a.path, a.size, a.sha256, a.content_type, a.hit_count, a.last_accessed_at,
              a.fetched_at
         FROM nearest JOIN cached_artifacts a ON a.remote = $1 AND a.path = nearest.path
        ORDER BY nearest.depth, a.path LIMIT $4`,
      [remote, manifestPath, under, limit],
    );
    return rows.map(browsedRecord);
  }

  /** Deletes the records of one remote (or every remote); returns how many. */
  async deleteRemote(remote: string | null): Promise<number> {
    const result: [unknown[], number] =
      remote === null
        ? await this.database.requireSource().query(`DELETE FROM cached_artifacts`)
        : await this.database
            .requireSource()
            .query(`DELETE FROM cached_artifacts WHERE remote = $1`, [remote]);
    return result[1];
  }

  async usage(): Promise<RemoteUsage[]> {
    // Records of one storage key (a docker blob pulled for several images) are one object.
    const rows: Array<Record<string, unknown>> = await this.database.requireSource().query(
      `SELECT remote, count(*) AS objects, COALESCE(sum(size), 0) AS bytes,
              min(oldest) AS oldest
         FROM (SELECT remote, max(size) AS size, min(${LAST_USE}) AS oldest
                 FROM cached_artifacts GROUP BY remote, storage_key) AS objects
        GROUP BY remote ORDER BY remote`,
    );
    return rows.map((row) => ({
      remote: row.remote as string,
      objects: Number(row.objects),
      bytes: Number(row.bytes),
      oldestUse: (row.oldest as Date | null) ?? null,
    }));
  }

  /**
   * A page of the remotes' records, least recently used first, after `after` (the last record of
   * the previous page); only those last used before `usedBefore` when it is given.
   */
  async leastRecentlyUsed(
    remotes: readonly string[],
    limit: number,
    after: Pick<UsedRecord, 'lastUsedExact' | 'id'> | null,
    usedBefore: Date | null = null,
  ): Promise<UsedRecord[]> {
    // Conditions only for what is given: an `IS NULL OR` would keep the planner from reading the
    // (remote, last use, id) index in order, and every page would sort the whole table.
    const params: unknown[] = [remotes.length === 1 ? remotes[0] : remotes];
    const where = [remotes.length === 1 ? 'remote = $1' : 'remote = ANY($1)'];
    if (after) {
      params.push(after.lastUsedExact, after.id);
      where.push(
        `(${LAST_USE}, id) > ($${params.length - 1}::timestamptz, $${params.length}::bigint)`,
      );
    }
    if (usedBefore) {
      params.push(usedBefore.toISOString());
      where.push(`${LAST_USE} < $${params.length}::timestamptz`);
    }
    params.push(limit);
    const rows: Array<Record<string, unknown>> = await this.database.requireSource().query(
      `SELECT id, remote, path, storage_key, size, sha256, ${LAST_USE} AS last_used,
              ${LAST_USE}::text AS last_used_exact, fetched_at::text AS fetched_at,
              fetched_at AS fetched_date
         FROM cached_artifacts
        WHERE ${where.join(' AND ')}
        ORDER BY ${LAST_USE}, id
        LIMIT $${params.length}`,
      params,
    );
    return rows.map((row) => ({
      id: String(row.id),
      remote: row.remote as string,
      path: row.path as string,
      storageKey: row.storage_key as string,
      size: Number(row.size),
      sha256: row.sha256 as string,
      lastUsed: row.last_used as Date,
      lastUsedExact: row.last_used_exact as string,
      fetchedAt: row.fetched_at as string,
      fetchedDate: row.fetched_date as Date,
    }));
  }

  /**
   * Deletes the records unless their file was fetched again since they were read (then the
   * record describes a newer copy, which stays). Returns how many were deleted.
   */
  async deleteUnlessRefetched(
    records: ReadonlyArray<Pick<UsedRecord, 'id' | 'fetchedAt'>>,
  ): Promise<number> {
    const result: [unknown[], number] = await this.database.requireSource().query(
      `DELETE FROM cached_artifacts AS c
         USING unnest($1::bigint[], $2::timestamptz[]) AS v(id, fetched_at)
        WHERE c.id = v.id AND c.fetched_at = v.fetched_at`,
      [records.map((record) => record.id), records.map((record) => record.fetchedAt)],
    );
    return result[1];
  }

  /**
   * Of `candidates`, those a record not in `gone` names (a docker blob or manifest that a cached
   * manifest or index still names, in the same remote): they stay while it does. One probe of
   * the GIN index on `refers_to` per candidate.
   */
  async referencedFromOutside(
    candidates: ReadonlyArray<Pick<UsedRecord, 'id' | 'remote' | 'sha256'>>,
    gone: readonly string[],
  ): Promise<Set<string>> {
    if (candidates.length === 0) {
      return new Set();
    }
    const rows: Array<{ id: string }> = await this.database.requireSource().query(
      `SELECT v.id FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, remote, sha256)
        CROSS JOIN LATERAL (SELECT 1 FROM cached_artifacts m
                             WHERE m.refers_to @> ARRAY[v.sha256] AND m.refers_to IS NOT NULL
                               AND m.remote = v.remote AND m.id <> ALL($4::bigint[])
                             LIMIT 1) AS named`,
      [
        candidates.map((record) => record.id),
        candidates.map((record) => record.remote),
        candidates.map((record) => record.sha256),
        gone,
      ],
    );
    return new Set(rows.map((row) => row.id));
  }

  /**
   * Of the records' storage keys, those a record other than `ids` still stores its file under.
   * Records share a key only with the same content in the same remote (a docker blob pulled
   * for several images), which is what the (remote, sha256) index finds.
   */
  async keysHeldByOthers(
    stored: ReadonlyArray<Pick<UsedRecord, 'remote' | 'sha256' | 'storageKey'>>,
    ids: readonly string[],
  ): Promise<Set<string>> {
    if (stored.length === 0) {
      return new Set();
    }
    const rows: Array<{ storage_key: string }> = await this.database.requireSource().query(
      `SELECT DISTINCT c.storage_key FROM cached_artifacts c
         JOIN unnest($1::text[], $2::bpchar[], $3::text[]) AS v(remote, sha256, storage_key)
           ON c.remote = v.remote AND c.sha256 = v.sha256 AND c.storage_key = v.storage_key
        WHERE c.id <> ALL($4::bigint[])`,
      [
        stored.map((record) => record.remote),
        stored.map((record) => record.sha256),
        stored.map((record) => record.storageKey),
        ids,
      ],
    );
    return new Set(rows.map((row) => row.storage_key));
  }

  /** A page of docker manifest records written before their references were recorded. */
  async manifestsWithoutReferences(
    remotes: readonly string[],
    limit: number,
  ): Promise<Array<{ id: string; storageKey: string }>> {
    if (remotes.length === 0) {
      return [];
    }
    const rows: Array<{ id: string; storage_key: string }> = await this.database
      .requireSource()
      .query(
        `SELECT id::text AS id, storage_key FROM cached_artifacts
          WHERE remote = ANY($1) AND refers_to IS NULL AND path LIKE '%/manifests/%'
          ORDER BY id LIMIT $2`,
        [remotes, limit],
      );
    return rows.map((row) => ({ id: row.id, storageKey: row.storage_key }));
  }

  async setReferences(id: string, refersTo: readonly string[]): Promise<void> {
    await this.database
      .requireSource()
      .query(`UPDATE cached_artifacts SET refers_to = $2 WHERE id = $1`, [id, refersTo]);
  }

  /**
   * What the docker remotes' sharing saves: each blob (or manifest) stored once, though N > 1
   * cached images name it, saves (N - 1) times its size.
   */
  async sharedBlobBytes(remotes: readonly string[]): Promise<number> {
    if (remotes.length === 0) {
      return 0;
    }
    const rows: Array<{ bytes: string }> = await this.database.requireSource().query(
      `SELECT COALESCE(sum(stored.size * (named.images - 1)), 0)::text AS bytes
         FROM (SELECT m.remote, child, count(DISTINCT split_part(m.path, '/manifests/', 1)) AS images
                 FROM cached_artifacts m CROSS JOIN LATERAL unnest(m.refers_to) AS child
                WHERE m.remote = ANY($1) AND m.refers_to IS NOT NULL
                GROUP BY m.remote, child
               HAVING count(DISTINCT split_part(m.path, '/manifests/', 1)) > 1) AS named
         CROSS JOIN LATERAL (SELECT c.size FROM cached_artifacts c
                              WHERE c.remote = named.remote AND c.sha256 = named.child::bpchar
                              LIMIT 1) AS stored`,
      [remotes],
    );
    return Number(rows[0]?.bytes ?? 0);
  }

  /** Deletes the records of one remote whose storage key is `key`, or starts with it when `prefix`. */
  async deleteStored(remote: string, key: string, prefix: boolean): Promise<number> {
    const pattern = prefix ? `${key.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : key;
    const result: [unknown[], number] = await this.database
      .requireSource()
      .query(
        `DELETE FROM cached_artifacts WHERE remote = $1 AND storage_key ${prefix ? 'LIKE' : '='} $2`,
        [remote, pattern],
      );
    return result[1];
  }
}

function browsedRecord(row: Record<string, unknown>): BrowsedRecord {
  return {
    path: row.path as string,
    size: Number(row.size),
    sha256: row.sha256 as string,
    contentType: row.content_type as string | null,
    hits: Number(row.hit_count),
    lastAccessedAt: row.last_accessed_at as Date | null,
    fetchedAt: row.fetched_at as Date,
  };
}
