const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * A size as operators write it: `0`, `4096`, `512KiB`, `256MiB`, `1.5GiB`, `50GB` (KiB/MiB/...
 * and bare K/M/G are powers of 1024, kB/MB/GB powers of 1000; case-insensitive). Null when the
 * text is not a size.
 */
export function parseByteSize(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) {
    return null;
  }
  const unit = UNITS[match[2].toLowerCase()];
  if (unit === undefined) {
    return null;
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
