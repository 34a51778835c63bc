import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { encodeModulePath } from './go-proxy';
import type { UpstreamServer } from './upstream-server';

/**
 * A Go checksum database (the sumdb protocol of golang.org/x/mod/sumdb) with a key of its own,
 * its files served from an UpstreamServer under `prefix`: the signed tree head (`latest`), one
 * lookup per module version, and the one hash tile a tree of under 256 records needs. Real
 * enough for `go` to verify modules against it with GOSUMDB set to `verifierKey`.
 */
export class ChecksumDb {
  private readonly records: string[] = [];
  private readonly keys = generateKeyPairSync('ed25519');

  constructor(
    /** the database's name, as go knows it (GOSUMDB) */
    readonly name: string,
  ) {}

  /** GOSUMDB's value: `<name>+<key hash>+<key>`. */
  get verifierKey(): string {
    return `${this.name}+${this.keyHash().toString('hex')}+${this.keyData().toString('base64')}`;
  }

  /** Adds the go.sum lines of one module version (its zip's and its go.mod's `h1:` hashes). */
  add(lines: string): void {
    this.records.push(lines.endsWith('\n') ? lines : `${lines}\n`);
  }

  /** Serves what go asks of it, for the records added so far. */
  publish(server: UpstreamServer, prefix: string): void {
    const note = this.signedTree();
    server.set(`${prefix}/latest`, { body: note });
    this.records.forEach((record, id) => {
      const [module, version] = record.split(' ');
      const lookup = `${prefix}/lookup/${encodeModulePath(module)}@${version}`;
      server.set(lookup, { body: `${id}\n${record}\n${note}` });
    });
    const hashes = Buffer.concat(this.records.map((record) => leafHash(record)));
    server.set(`${prefix}/tile/8/0/000.p/${this.records.length}`, { body: hashes });
  }

  private signedTree(): string {
    const root = treeHash(this.records.map((record) => leafHash(record)));
    const text = `go.sum database tree\n${this.records.length}\n${root.toString('base64')}\n`;
    const signature = sign(null, Buffer.from(text), this.keys.privateKey);
    const line = Buffer.concat([this.keyHash(), signature]).toString('base64');
    return `${text}\n\u2014 ${this.name} ${line}\n`;
  }

  /** The algorithm byte (1: Ed25519) and the raw public key. */
  private keyData(): Buffer {
    const der = this.keys.publicKey.export({ format: 'der', type: 'spki' });
    return Buffer.concat([Buffer.from([1]), der.subarray(der.length - 32)]);
  }

  private keyHash(): Buffer {
    const digest = createHash('sha256').update(`${this.name}\n`).update(this.keyData()).digest();
    return digest.subarray(0, 4);
  }
}

function leafHash(record: string): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(record)
    .digest();
}

/** RFC 6962's Merkle tree hash of the leaf hashes. */
function treeHash(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) {
    return leaves[0];
  }
  let split = 1;
  while (split * 2 < leaves.length) {
    split *= 2;
  }
  return createHash('sha256')
    .update(Buffer.from([1]))
    .update(treeHash(leaves.slice(0, split)))
    .update(treeHash(leaves.slice(split)))
    .digest();
}
