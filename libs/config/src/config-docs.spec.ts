import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAppConfig } from './app-config.loader';
import { REMOTE_KEYS } from './remote-config.schema';

const DOC = readFileSync(join(__dirname, '../../../docs/CONFIGURATION.md'), 'utf8');

/** The backquoted names in the first column of the table under `heading`. */
function tableNames(heading: string): string[] {
  const section = DOC.slice(DOC.indexOf(heading));
  const names: string[] = [];
  for (const line of section.split('\n').slice(1)) {
    if (line.startsWith('#')) {
      break;
    }
    const first = line.split('|')[1] ?? '';
    names.push(...[...first.matchAll(/`([A-Za-z0-9_]+)`/g)].map((match) => match[1]));
  }
  return names;
}

/** The environment variables the loader reads, seen through a recording environment. */
function variablesRead(env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, name) {
      if (typeof name === 'string') {
        read.add(name);
      }
      return target[name as string];
    },
  });
  buildAppConfig({ remotes: {} }, recording);
  return read;
}

describe('docs/CONFIGURATION.md', () => {
  it('has a row for every key a remote may have, and no other', () => {
    expect(tableNames('### Keys of a remote').sort()).toEqual([...REMOTE_KEYS].sort());
  });

  it('has a row for every environment variable the loader reads, and no other', () => {
    const read = new Set([
      ...variablesRead({}),
      ...variablesRead({ STORAGE_DRIVER: 's3', S3_BUCKET: 'b' }),
      ...variablesRead({ REDIS_SENTINELS: 'h:26379', REDIS_SENTINEL_NAME: 'm' }),
    ]);
    expect(tableNames('## Environment').sort()).toEqual([...read].sort());
  });
});
