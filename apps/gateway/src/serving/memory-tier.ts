import type { ObjectInfo } from '@app/storage';

export interface MemoryTierLimits {
  /** bytes of bodies held at most; 0 turns the tier off */
  maxBytes: number;
  /** larger objects are never held */
  maxObjectBytes: number;
  /** an entry older than this is dropped when next asked for (bounds a missed invalidation) */
  maxAgeMs: number;
}

export interface MemoryEntry {
  info: ObjectInfo;
  body: Buffer;
  heldSince: number;
  /** response headers by request path, built once (they depend on the object and the path only) */
  headers: Map<string, Readonly<Record<string, string>>>;
}

/**
 * Bodies of small stored objects, byte-bounded, least recently used out first. Keys are storage
 * keys; an entry is exactly what storage held when it was read. `forget` bumps a generation, so a
 * read that began before a flush cannot put its (now removed) object back afterwards.
 */
export class MemoryTier {
  private readonly entries = new Map<string, MemoryEntry>();
  private heldBytes = 0;
  private generation = 0;

  constructor(private readonly limits: MemoryTierLimits) {}

  get bytes(): number {
    return this.heldBytes;
  }

  get count(): number {
    return this.entries.size;
  }

  /** The generation a fill must present to `put`. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** Whether an object of `size` bytes would be held. */
  accepts(size: number): boolean {
    return size <= this.limits.maxObjectBytes && size <= this.limits.maxBytes;
  }

  get(key: string, now: number): MemoryEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    if (now - entry.heldSince > this.limits.maxAgeMs) {
      this.remove(key, entry);
      return undefined;
    }
    // Map order is the recency order: the first key is the least recently used.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** False when not held: too large, or `generation` is from before a `forget`. */
  put(key: string, info: ObjectInfo, body: Buffer, generation: number, now: number): boolean {
    if (generation !== this.generation || !this.accepts(body.length)) {
      return false;
    }
    const previous = this.entries.get(key);
    if (previous) {
      this.remove(key, previous);
    }
    for (const [oldest, entry] of this.entries) {
      if (this.heldBytes + body.length <= this.limits.maxBytes) {
        break;
      }
      this.remove(oldest, entry);
    }
    this.entries.set(key, { info, body, heldSince: now, headers: new Map() });
    this.heldBytes += body.length;
    return true;
  }

  /** Drops every entry whose key starts with `prefix` ('' drops all); returns how many. */
  forget(prefix: string): number {
    this.generation += 1;
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if (key.startsWith(prefix)) {
        this.remove(key, entry);
        dropped += 1;
      }
    }
    return dropped;
  }

  /** Drops the entries of exactly these keys (an eviction pass's page); returns how many. */
  forgetKeys(keys: readonly string[]): number {
    this.generation += 1;
    let dropped = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry) {
        this.remove(key, entry);
        dropped += 1;
      }
    }
    return dropped;
  }

  private remove(key: string, entry: MemoryEntry): void {
    this.entries.delete(key);
    this.heldBytes -= entry.body.length;
  }
}
