/**
 * The versions one mutable file had upstream and when each was current, so that a body read
 * through the cache can be judged: current enough for when it was asked, or outdated.
 */
interface Version {
  sha256: string;
  /** epoch ms it became current upstream */
  from: number;
  /** epoch ms it was replaced (Infinity while current) */
  until: number;
}

/** Minutes of history at one change every few seconds. */
const KEPT_VERSIONS = 200;

export class VersionHistory {
  private readonly versions: Version[] = [];

  publish(sha256: string, at: number): void {
    const last = this.versions.at(-1);
    if (last) {
      last.until = at;
    }
    this.versions.push({ sha256, from: at, until: Infinity });
    if (this.versions.length > KEPT_VERSIONS) {
      this.versions.shift();
    }
  }

  /**
   * The versions that were the upstream's at some moment in [`windowStart`, `windowEnd`]; the
   * caller widens the window by what a cache may lawfully lag (TTL, a revalidation's duration).
   */
  currentIn(windowStart: number, windowEnd: number): string[] {
    return this.versions
      .filter((v) => v.from <= windowEnd && v.until >= windowStart)
      .map((v) => v.sha256);
  }

  all(): string[] {
    return this.versions.map((v) => v.sha256);
  }
}
