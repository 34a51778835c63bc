import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** House rules that the compiler and the linter do not check. */
const ROOT = join(__dirname, '..');
const TOPS = ['apps', 'libs', 'tools', 'test', 'scripts', 'bench'];

function sourcesUnder(top: string, found: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, top))) {
    const path = join(top, name);
    if (statSync(join(ROOT, path)).isDirectory()) {
      sourcesUnder(path, found);
    } else if (name.endsWith('.ts')) {
      found.push(path);
    }
  }
  return found;
}

const SOURCES = new Map(
  TOPS.flatMap((top) => sourcesUnder(top)).map((path) => [
    path,
    readFileSync(join(ROOT, path), 'utf8'),
  ]),
);

describe('the house', () => {
  it.each([
    ['scripts', 'test', /^test\//],
    ['test', 'scripts', /^scripts\//],
    ['tools', 'test, scripts or bench', /^(test|scripts|bench)\//],
  ])('has no import from %s into %s', (top, _into, forbidden) => {
    const crossing: string[] = [];
    for (const [path, text] of SOURCES) {
      if (!path.startsWith(`${top}/`)) {
        continue;
      }
      for (const [, specifier] of text.matchAll(/from '(\.[^']+)'/g)) {
        const target = relative(ROOT, join(ROOT, path, '..', specifier));
        if (forbidden.test(target)) {
          crossing.push(`${path} → ${target}`);
        }
      }
    }
    expect(crossing).toEqual([]);
  });

  it('exports no value that no other file names (dead code, or an export that should not be one)', () => {
    const filesNaming = new Map<string, Set<string>>();
    for (const [path, text] of SOURCES) {
      for (const word of new Set(text.match(/\b[A-Za-z_$][\w$]*\b/g))) {
        filesNaming.set(word, (filesNaming.get(word) ?? new Set()).add(path));
      }
    }
    const unused: string[] = [];
    for (const [path, text] of SOURCES) {
      if (/\.(e2e-)?spec\.ts$/.test(path)) {
        continue;
      }
      const exported =
        /^export (?:async )?(?:const|let|function\*?|class|enum) ([A-Za-z_$][\w$]*)/gm;
      for (const [, name] of text.matchAll(exported)) {
        if ([...(filesNaming.get(name) ?? [])].every((file) => file === path)) {
          unused.push(`${path}: ${name}`);
        }
      }
    }
    expect(unused).toEqual([]);
  });
});
