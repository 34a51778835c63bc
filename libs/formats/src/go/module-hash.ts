import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ArtifactError } from '@app/common';
import { type Entry, type ZipFile, open } from 'yauzl';

/**
 * go's `h1:` hashes (golang.org/x/mod/sumdb/dirhash Hash1): sha256 over the lines
 * `<hex sha256 of a file>  <name>\n` of every file, sorted by name, in base64.
 */
export function hash1(files: ReadonlyMap<string, string>): string {
  const summary = [...files.keys()]
    .sort()
    .map((name) => `${files.get(name)}  ${name}\n`)
    .join('');
  return `h1:${createHash('sha256').update(summary).digest('base64')}`;
}

/** The `h1:` of a version's go.mod, as the checksum database records it (`<version>/go.mod`). */
export function goModHash(bytes: Buffer): string {
  return hash1(new Map([['go.mod', createHash('sha256').update(bytes).digest('hex')]]));
}

/** go limits a module zip to 500 MiB, compressed and not. */
const MODULE_ZIP_MAX_BYTES = 500 * 1024 * 1024;

/**
 * The `h1:` of a module zip (dirhash HashZip): every entry's inflated bytes hashed, one entry at
 * a time, so memory stays at a chunk. Throws upstream_integrity for a zip go would not take.
 */
export async function moduleZipHash(file: string, signal: AbortSignal): Promise<string> {
  const zip = await openZip(file);
  const digests = new Map<string, string>();
  let inflated = 0;
  try {
    for (let entry = await nextEntry(zip); entry !== null; entry = await nextEntry(zip)) {
      signal.throwIfAborted();
      // decodeStrings off: the name is the zip's bytes.
      const name = (entry.fileName as unknown as Buffer).toString('utf8');
      inflated += entry.uncompressedSize;
      if (name.includes('\n') || digests.has(name)) {
        throw notAModuleZip(`an entry name repeated or with a newline: ${JSON.stringify(name)}`);
      }
      if (inflated > MODULE_ZIP_MAX_BYTES) {
        throw notAModuleZip(`more than ${MODULE_ZIP_MAX_BYTES} bytes inflated`);
      }
      digests.set(name, await entryDigest(zip, entry, signal));
    }
  } finally {
    zip.close();
  }
  return hash1(digests);
}

function openZip(file: string): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    // Names as bytes: yauzl would decode names without the UTF-8 flag as CP437; go takes bytes.
    open(file, { lazyEntries: true, decodeStrings: false, autoClose: false }, (error, zip) =>
      error ? reject(notAModuleZip(error.message)) : resolve(zip),
    );
  });
}

/** The next entry, null at the end of the central directory. */
function nextEntry(zip: ZipFile): Promise<Entry | null> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: Entry): void => {
      done();
      resolve(entry);
    };
    const onEnd = (): void => {
      done();
      resolve(null);
    };
    const onError = (error: Error): void => {
      done();
      reject(notAModuleZip(error.message));
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

async function entryDigest(zip: ZipFile, entry: Entry, signal: AbortSignal): Promise<string> {
  const stream = await new Promise<Readable>((resolve, reject) => {
    zip.openReadStream(entry, (error, opened) =>
      error ? reject(notAModuleZip(error.message)) : resolve(opened),
    );
  });
  const hash = createHash('sha256');
  const abort = (): void => {
    stream.destroy(signal.reason as Error);
  };
  signal.addEventListener('abort', abort, { once: true });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
    }
  } catch (error) {
    throw signal.aborted ? error : notAModuleZip((error as Error).message);
  } finally {
    signal.removeEventListener('abort', abort);
  }
  return hash.digest('hex');
}

function notAModuleZip(why: string): ArtifactError {
  return new ArtifactError('upstream_integrity', `not a module zip go would take: ${why}`, {
    actualDigest: 'unreadable',
  });
}
