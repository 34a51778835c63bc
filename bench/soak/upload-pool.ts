import type { KnownFile } from './corpus';

interface Entry extends KnownFile {
  /** operations on this file running now; a file is deleted only when none is */
  busy: number;
}

/**
 * The hosted files the soak uploaded and may read, overwrite (expecting 409) or delete, shared
 * by every client loop. Operations on one file never race a delete of it, so each has exactly
 * one right answer: a delete takes an idle file out of the pool before it is sent.
 */
export class UploadPool {
  private readonly entries: Entry[] = [];
  private readonly deleted: string[] = [];

  constructor(
    /** past this many files, new uploads wait for deletes */
    readonly capacity: number,
    private readonly keptDeleted = 100,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  get full(): boolean {
    return this.entries.length >= this.capacity;
  }

  add(file: KnownFile): void {
    this.entries.push({ ...file, busy: 0 });
  }

  /** A random uploaded file, held until `release`; null when there is none. */
  borrow(): (KnownFile & { release(): void }) | null {
    if (this.entries.length === 0) {
      return null;
    }
    const entry = this.entries[Math.floor(Math.random() * this.entries.length)];
    entry.busy += 1;
    return {
      path: entry.path,
      size: entry.size,
      sha256: entry.sha256,
      release: () => void (entry.busy -= 1),
    };
  }

  /** Takes the oldest idle file out of the pool for deletion; null when every file is busy. */
  takeForDelete(): KnownFile | null {
    const at = this.entries.findIndex((entry) => entry.busy === 0);
    if (at === -1) {
      return null;
    }
    const [entry] = this.entries.splice(at, 1);
    return { path: entry.path, size: entry.size, sha256: entry.sha256 };
  }

  /** After a 204: reads of it must now be 404. */
  markDeleted(path: string): void {
    this.deleted.push(path);
    if (this.deleted.length > this.keptDeleted) {
      this.deleted.shift();
    }
  }

  deletedPath(): string | null {
    return this.deleted.length === 0
      ? null
      : this.deleted[Math.floor(Math.random() * this.deleted.length)];
  }
}
