import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { isArtifactError } from '@app/common';
import { type ProxyRemoteConfig, buildAppConfig } from '@app/config';
import type { DownloadCheck } from '../download-check';
import { fetchTargetOf } from '../fetch-target';
import { goModHash, moduleZipHash } from './module-hash';
import { recordedHash, verifyGoDownload } from './module-sums';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const b64 = (text: string) => createHash('sha256').update(text).digest('base64');

/** A zip of `entries` (name, contents, deflated or stored), in the given order. */
function zipOf(entries: Array<[string, string, 'deflate' | 'store']>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text, method] of entries) {
    const data = Buffer.from(text);
    const packed = method === 'deflate' ? deflateRawSync(data) : data;
    const nameBytes = Buffer.from(name);
    const fields = (header: Buffer, at: number) => {
      header.writeUInt16LE(20, at); // version needed
      header.writeUInt16LE(0x0800, at + 2); // UTF-8 names
      header.writeUInt16LE(method === 'deflate' ? 8 : 0, at + 4);
      header.writeUInt32LE(0, at + 6); // time and date
      header.writeUInt32LE(crc32(data), at + 10);
      header.writeUInt32LE(packed.length, at + 14);
      header.writeUInt32LE(data.length, at + 18);
      header.writeUInt16LE(nameBytes.length, at + 22);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    fields(local, 4);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    fields(central, 6);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const MOD = 'module example.org/Greet\n\ngo 1.19\n';
const SOURCE = 'package greet\n';
const FILES: Array<[string, string, 'deflate' | 'store']> = [
  ['example.org/Greet@v1.2.0/go.mod', MOD, 'deflate'],
  ['example.org/Greet@v1.2.0/greet.go', SOURCE, 'store'],
];
// dirhash Hash1 spelled out: `<sha256>  <name>\n` per file, sorted by name, hashed, in base64
const ZIP_H1 =
  'h1:' +
  b64(
    `${sha(MOD)}  example.org/Greet@v1.2.0/go.mod\n` +
      `${sha(SOURCE)}  example.org/Greet@v1.2.0/greet.go\n`,
  );
const MOD_H1 = 'h1:' + b64(`${sha(MOD)}  go.mod\n`);
const LOOKUP = (zip: string, mod: string) =>
  `1234\nexample.org/Greet v1.2.0 ${zip}\nexample.org/Greet v1.2.0/go.mod ${mod}\n\n` +
  'go.sum database tree\n1235\nAAAA\n\n— sum.example.org abcd\n';

describe('go module hashes (dirhash h1)', () => {
  let dir: string;
  const write = async (name: string, bytes: Buffer | string) => {
    const file = join(dir, name);
    await writeFile(file, bytes);
    return file;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'module-sums-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("a go.mod's is over the one file go.mod", () => {
    expect(goModHash(Buffer.from(MOD))).toBe(MOD_H1);
  });

  it.each([
    ['in name order', FILES],
    ['in another order', [...FILES].reverse()],
    ['all deflated', FILES.map(([name, text]) => [name, text, 'deflate'])],
  ] as Array<[string, typeof FILES]>)(
    "a zip's is over its inflated files, %s",
    async (_, files) => {
      const file = await write('module.zip', zipOf(files));
      expect(await moduleZipHash(file, new AbortController().signal)).toBe(ZIP_H1);
    },
  );

  it.each([
    ['a name twice', zipOf([...FILES, FILES[0]])],
    ['a newline in a name', zipOf([['a\nb', 'x', 'store']])],
    ['not a zip', Buffer.from('PK not really a zip, only its first letters')],
  ])('refuses a zip with %s', async (_, bytes) => {
    const file = await write('bad.zip', bytes);
    await expect(moduleZipHash(file, new AbortController().signal)).rejects.toMatchObject({
      code: 'upstream_integrity',
    });
  });

  it('stops at the deadline', async () => {
    const file = await write('module.zip', zipOf(FILES));
    await expect(moduleZipHash(file, AbortSignal.abort())).rejects.toThrow(/abort/i);
  });
});

describe('recordedHash (a checksum database lookup)', () => {
  it.each([
    ['example.org/Greet', 'v1.2.0', 'h1:zip'],
    ['example.org/Greet', 'v1.2.0/go.mod', 'h1:mod'],
    ['example.org/greet', 'v1.2.0', null],
    ['example.org/Greet', 'v1.2.1', null],
  ])('%s %s: %s', (module, version, hash) => {
    expect(recordedHash(LOOKUP('h1:zip', 'h1:mod'), module, version)).toBe(hash);
  });

  it('reads no further than the blank line before the signed tree head', () => {
    const lookup = `1\n\nexample.org/Greet v1.2.0 h1:late\n`;
    expect(recordedHash(lookup, 'example.org/Greet', 'v1.2.0')).toBeNull();
  });
});

describe('verifyGoDownload', () => {
  const remotes = buildAppConfig({
    remotes: {
      golang: {
        package: 'go',
        base_url: 'https://proxy.example.org',
        sumdb_url: 'https://sum.example.org',
      },
      nosum: { package: 'go', base_url: 'https://proxy.example.org' },
    },
  }).remotes;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'module-sums-'));
    await writeFile(join(dir, 'v1.2.0.zip'), zipOf(FILES));
    await writeFile(join(dir, 'v1.2.0.mod'), MOD);
    await writeFile(join(dir, 'v1.2.0.info'), '{}');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** The check of `file` (a go path's last part), the lookup answering `lookup`. */
  async function check(
    remote: string,
    file: string,
    lookup: string | null,
  ): Promise<{ refusal: string | null; asked: string[] }> {
    const asked: string[] = [];
    const path = `example.org/!greet/@v/${file}`;
    const config = remotes[remote] as ProxyRemoteConfig;
    const download: DownloadCheck = {
      remote: config,
      target: fetchTargetOf(config, path),
      path,
      file: join(dir, file),
      signal: new AbortController().signal,
      related: (related) => {
        asked.push(related);
        return Promise.resolve(lookup === null ? null : Buffer.from(lookup));
      },
    };
    const refusal = await verifyGoDownload(download).then(
      () => null,
      (error: unknown) => (isArtifactError(error) ? error.code : 'not an ArtifactError'),
    );
    return { refusal, asked };
  }

  const LOOKUP_PATH = 'sumdb/sum.example.org/lookup/example.org/!greet@v1.2.0';
  it.each([
    ['golang', 'v1.2.0.zip', LOOKUP(ZIP_H1, MOD_H1), null, [LOOKUP_PATH]],
    ['golang', 'v1.2.0.mod', LOOKUP(ZIP_H1, MOD_H1), null, [LOOKUP_PATH]],
    ['golang', 'v1.2.0.zip', LOOKUP('h1:other', MOD_H1), 'upstream_integrity', [LOOKUP_PATH]],
    ['golang', 'v1.2.0.mod', LOOKUP(ZIP_H1, 'h1:other'), 'upstream_integrity', [LOOKUP_PATH]],
    [
      'golang',
      'v1.2.0.zip',
      '1\nexample.org/Other v1.2.0 h1:x\n',
      'upstream_integrity',
      [LOOKUP_PATH],
    ],
    // a version the database does not know (a private module): as the upstream sent it
    ['golang', 'v1.2.0.zip', null, null, [LOOKUP_PATH]],
    ['golang', 'v1.2.0.info', LOOKUP('h1:other', 'h1:other'), null, []],
    ['nosum', 'v1.2.0.zip', LOOKUP('h1:other', 'h1:other'), null, []],
  ])('%s %s: %#', async (remote, file, lookup, refusal, asked) => {
    expect(await check(remote, file, lookup)).toEqual({ refusal, asked });
  });
});
