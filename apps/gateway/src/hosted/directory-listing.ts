import { posix } from 'node:path';

export interface ListingEntry {
  name: string;
  type: 'file' | 'directory';
  size?: number;
  sha256?: string;
  modified?: string;
}

export interface Listing {
  remote: string;
  path: string;
  entries: ListingEntry[];
}

/** Immediate children of `dir` (no leading slash, '' or ending in '/') among the keys' paths. */
export function childrenOf(
  dir: string,
  files: Array<{ path: string; size: number; sha256: string; storedAt: Date }>,
): ListingEntry[] {
  const directories = new Set<string>();
  const entries: ListingEntry[] = [];
  for (const file of files) {
    const rest = file.path.slice(dir.length);
    const slash = rest.indexOf('/');
    if (slash === -1) {
      entries.push({
        name: rest,
        type: 'file',
        size: file.size,
        sha256: file.sha256,
        modified: file.storedAt.toISOString(),
      });
    } else {
      directories.add(rest.slice(0, slash));
    }
  }
  return [
    ...[...directories].map((name): ListingEntry => ({ name, type: 'directory' })),
    ...entries,
  ].sort((a, b) => a.name.localeCompare(b.name));
}

/** A plain HTML index page, for browsers. */
export function renderHtml(listing: Listing): string {
  const title = `/${listing.remote}/${listing.path}`;
  const rows = listing.entries.map((entry) => {
    const href = encodeURIComponent(entry.name) + (entry.type === 'directory' ? '/' : '');
    const label = escapeHtml(entry.name) + (entry.type === 'directory' ? '/' : '');
    const size = entry.size === undefined ? '-' : String(entry.size);
    return `<tr><td><a href="${href}">${label}</a></td><td>${size}</td><td>${entry.modified ?? ''}</td></tr>`;
  });
  const parent =
    listing.path === '' ? '' : `<tr><td><a href="../">../</a></td><td></td><td></td></tr>`;
  return [
    '<!DOCTYPE html>',
    `<html><head><meta charset="utf-8"><title>Index of ${escapeHtml(title)}</title></head><body>`,
    `<h1>Index of ${escapeHtml(title)}</h1>`,
    '<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead><tbody>',
    parent,
    ...rows,
    '</tbody></table></body></html>',
  ].join('\n');
}

export function parentOf(path: string): string {
  const parent = posix.dirname(path.replace(/\/$/, ''));
  return parent === '.' ? '' : `${parent}/`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
