const SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/**
 * A duration as operators write it, in seconds: `45` or `45s`, `90m`, `12h`, `30d`, `2w`
 * (case-insensitive). Null when the text is not a duration.
 */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]?)$/i.exec(text.trim());
  const unit = match ? SECONDS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    return null;
  }
  const seconds = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(seconds) ? seconds : null;
}
