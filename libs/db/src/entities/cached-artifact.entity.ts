import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

const bigintAsNumber = { to: (value: number) => value, from: (value: string) => Number(value) };

/** One artifact pulled through from an upstream and held in storage. */
@Entity({ name: 'cached_artifacts' })
@Index('cached_artifacts_remote_path', ['remote', 'path'], { unique: true })
export class CachedArtifact {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ type: 'text' })
  remote!: string;

  @Column({ type: 'text' })
  path!: string;

  @Column({ name: 'storage_key', type: 'text' })
  storageKey!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  size!: number;

  @Column({ type: 'char', length: 64 })
  sha256!: string;

  @Column({ name: 'content_type', type: 'text', nullable: true })
  contentType!: string | null;

  @Column({ name: 'upstream_etag', type: 'text', nullable: true })
  upstreamEtag!: string | null;

  @Column({ name: 'upstream_last_modified', type: 'text', nullable: true })
  upstreamLastModified!: string | null;

  @Column({ name: 'fetched_at', type: 'timestamptz' })
  fetchedAt!: Date;

  @Column({ name: 'last_accessed_at', type: 'timestamptz', nullable: true })
  lastAccessedAt!: Date | null;

  /** a docker manifest's: the digests (hex) it names; null for other files, or not yet read */
  @Column({ name: 'refers_to', type: 'text', array: true, nullable: true })
  refersTo!: string[] | null;

  @Column({ name: 'hit_count', type: 'bigint', default: 0, transformer: bigintAsNumber })
  hitCount!: number;

  /** false while its stored object holds bytes of its own (stored by an older release) */
  @Column({ name: 'content_shared', type: 'boolean', default: false })
  contentShared!: boolean;
}
