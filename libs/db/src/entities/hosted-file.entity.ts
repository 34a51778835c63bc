import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

const bigintAsNumber = { to: (value: number) => value, from: (value: string) => Number(value) };

/** A file uploaded to a hosted (`local`) remote. */
@Entity({ name: 'hosted_files' })
@Index('hosted_files_remote_path', ['remote', 'path'], { unique: true })
export class HostedFile {
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

  @Column({ name: 'uploaded_at', type: 'timestamptz' })
  uploadedAt!: Date;

  @Column({ name: 'last_accessed_at', type: 'timestamptz', nullable: true })
  lastAccessedAt!: Date | null;

  @Column({ name: 'hit_count', type: 'bigint', default: 0, transformer: bigintAsNumber })
  hitCount!: number;

  /** false while its stored object holds bytes of its own (stored by an older release) */
  @Column({ name: 'content_shared', type: 'boolean', default: false })
  contentShared!: boolean;
}
