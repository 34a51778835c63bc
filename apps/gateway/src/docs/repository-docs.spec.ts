import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '../../../..');
const SOURCES = ['apps', 'libs', 'scripts', 'tools', 'test', 'bench', 'deploy', 'config', 'docs'];
const SKIP = new Set(['node_modules', 'dist', '.data']);

function filesUnder(dir: string, found: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name)) {
        filesUnder(path, found);
      }
    } else if (/\.(ts|js|sh|md|ya?ml|conf|json)$/.test(entry.name)) {
      found.push(path);
    }
  }
  return found;
}

/** This spec names the patterns it looks for; it is not one of the files it checks. */
const FILES = [
  join(ROOT, 'README.md'),
  ...SOURCES.flatMap((dir) => filesUnder(join(ROOT, dir))),
].filter((file) => file !== __filename);

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(doc: string): Set<string> {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  return new Set([...text.matchAll(/^#+ (.+)$/gm)].map((match) => anchorOf(match[1].trim())));
}

/**
 * Every `docs/NAME.md#anchor` the repository names, and every `NAME.md#anchor` the documents
 * name among themselves: (file, reference).
 */
function references(): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const file of FILES) {
    const text = readFileSync(file, 'utf8');
    const inDocs = relative(ROOT, file).startsWith('docs/');
    const pattern = inDocs
      ? /(?:docs\/)?\b([A-Z][A-Z-]*\.md)(#[a-z0-9-]+)?/g
      : /\bdocs\/([A-Z][A-Z-]*\.md)(#[a-z0-9-]+)?/g;
    for (const match of text.matchAll(pattern)) {
      found.push([relative(ROOT, file), `docs/${match[1]}${match[2] ?? ''}`]);
    }
    // A document's links to its own sections.
    if (file.endsWith('.md')) {
      const self = relative(ROOT, file) === 'README.md' ? 'docs/README.md' : relative(ROOT, file);
      for (const match of text.matchAll(/\]\((#[a-z0-9-]+)\)/g)) {
        found.push([relative(ROOT, file), `${self}${match[1]}`]);
      }
    }
  }
  return found;
}

describe('the repository points to its own documents', () => {
  it('names no document outside the repository', () => {
    const outside = FILES.filter((file) => /SPEC §|SPEC\.md/.test(readFileSync(file, 'utf8')));
    expect(outside.map((file) => relative(ROOT, file))).toEqual([]);
  });

  it('names only documents and sections that exist', () => {
    const refs = references();
    expect(refs.length).toBeGreaterThan(20);
    const broken = refs.filter(([, ref]) => {
      const [doc, anchor] = ref.split('#');
      if (doc === 'docs/README.md') {
        return anchor !== undefined && !anchorsOf('README.md').has(anchor);
      }
      return !existsSync(join(ROOT, doc)) || (anchor !== undefined && !anchorsOf(doc).has(anchor));
    });
    expect(broken).toEqual([]);
  });

  it.each(['ARCHITECTURE', 'CACHING', 'CONFIGURATION', 'HTTP-API', 'METRICS'])(
    'has docs/%s.md',
    (name) => {
      expect(existsSync(join(ROOT, 'docs', `${name}.md`))).toBe(true);
    },
  );
});
