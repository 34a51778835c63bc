/**
 * OCI image layouts for e2e specs, built without a container engine: each layer is a tar (GNU tar,
 * fixed owner and mtime) of generated files, gzipped here while its two digests (the blob's and
 * the uncompressed `diff_id`) are computed in the same pass; then a config, an image manifest, for
 * the multi-arch case an image index, and the layout's `index.json` naming the tag. skopeo reads
 * the result as `oci:DIR:TAG`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { runCommand } from '../../tools/processes';
import { scratchDir } from './isolated-services';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** A content descriptor: what a manifest or index says about a blob. */
export interface Descriptor {
  mediaType: string;
  /** `sha256:<hex>` */
  digest: string;
  size: number;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface LayerSpec {
  /** small files by path inside the layer (`etc/motd`) */
  files?: Record<string, string>;
  /** one file of this many random (incompressible) bytes, at `payloadPath` */
  randomBytes?: number;
  /** default `opt/payload.bin` */
  payloadPath?: string;
}

export interface BuiltLayer extends Descriptor {
  /** sha256 of the uncompressed tar, as listed in the config's `rootfs.diff_ids` */
  diffId: string;
}

export interface BuiltImage {
  platform: Platform;
  /** the image manifest (the bytes are what the digest is of) */
  manifest: Descriptor & { bytes: Buffer };
  config: Descriptor;
  layers: BuiltLayer[];
}

export interface OciLayout {
  /** the layout directory */
  dir: string;
  tag: string;
  /** `oci:<dir>:<tag>` for skopeo */
  ref: string;
  /** `image`: the tag names one manifest; `index`: it names an image index of `images` */
  kind: 'image' | 'index';
  /** what the tag points to: the manifest (kind image) or the index (kind index) */
  top: Descriptor & { bytes: Buffer };
  images: BuiltImage[];
}

/** Counts and hashes what passes through. */
class Digester extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }

  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  const chunk = 1024 * 1024;
  function* chunks() {
    for (let written = 0; written < size; written += chunk) {
      yield randomBytes(Math.min(chunk, size - written));
    }
  }
  await pipeline(Readable.from(chunks()), out);
}

/** Where a blob lives in an OCI layout. */
export function blobPath(layoutDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return join(layoutDir, 'blobs', algorithm, hex);
}

async function writeJsonBlob(
  layoutDir: string,
  mediaType: string,
  value: unknown,
): Promise<Descriptor & { bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(blobPath(layoutDir, digest), bytes);
  return { mediaType, digest, size: bytes.length, bytes };
}

async function buildLayer(layoutDir: string, spec: LayerSpec): Promise<BuiltLayer> {
  const work = await scratchDir('oci-layer-src');
  try {
    const root = join(work, 'root');
    await mkdir(root, { recursive: true });
    for (const [path, content] of Object.entries(spec.files ?? {})) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    if (spec.randomBytes) {
      const payload = join(root, spec.payloadPath ?? 'opt/payload.bin');
      await mkdir(dirname(payload), { recursive: true });
      await writeRandomFile(payload, spec.randomBytes);
    }
    const tarFile = join(work, 'layer.tar');
    await runCommand('tar', [
      '--create',
      '--file',
      tarFile,
      '--directory',
      root,
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '--format=gnu',
      '.',
    ]);
    const uncompressed = new Digester();
    const compressed = new Digester();
    const tmp = join(layoutDir, 'blobs', 'sha256', `.tmp-${randomBytes(6).toString('hex')}`);
    await pipeline(
      createReadStream(tarFile),
      uncompressed,
      createGzip({ level: 6 }),
      compressed,
      createWriteStream(tmp),
    );
    const digest = compressed.digest();
    await rename(tmp, blobPath(layoutDir, digest));
    return {
      mediaType: MEDIA_TYPES.layer,
      digest,
      size: compressed.size,
      diffId: uncompressed.digest(),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function buildImageInto(
  layoutDir: string,
  platform: Platform,
  layerSpecs: LayerSpec[],
): Promise<BuiltImage> {
  const layers: BuiltLayer[] = [];
  for (const spec of layerSpecs) {
    layers.push(await buildLayer(layoutDir, spec));
  }
  const config = await writeJsonBlob(layoutDir, MEDIA_TYPES.config, {
    created: '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      Labels: { 'org.example.test-run': randomBytes(8).toString('hex') },
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({
      created: '2024-01-01T00:00:00Z',
      created_by: `artifactcache test layer ${i}`,
    })),
  });
  const manifest = await writeJsonBlob(layoutDir, MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  });
  return {
    platform,
    manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers,
  };
}

async function newLayoutDir(): Promise<string> {
  const dir = await scratchDir('oci-layouts');
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return dir;
}

async function writeIndexJson(dir: string, tag: string, top: Descriptor): Promise<void> {
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: [
        {
          mediaType: top.mediaType,
          digest: top.digest,
          size: top.size,
          annotations: { 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
}

export interface SingleImageOptions {
  tag?: string;
  /** default: three layers of ~4 KiB, ~1 MiB and ~20 MiB (the last one makes streaming matter) */
  layers?: LayerSpec[];
  platform?: Platform;
}

/** A single-platform image (linux/amd64 unless told). */
export async function buildSingleArchImage(options: SingleImageOptions = {}): Promise<OciLayout> {
  const tag = options.tag ?? '1.0';
  const dir = await newLayoutDir();
  const image = await buildImageInto(
    dir,
    options.platform ?? { os: 'linux', architecture: 'amd64' },
    options.layers ?? [
      { files: { 'etc/motd': 'artifact cache test image\n' }, randomBytes: 4 * 1024 },
      { files: { 'usr/share/doc/test/README': 'medium layer\n' }, randomBytes: 1024 * 1024 },
      { randomBytes: 20 * 1024 * 1024, payloadPath: 'opt/big/payload.bin' },
    ],
  );
  await writeIndexJson(dir, tag, image.manifest);
  return {
    dir,
    tag,
    ref: `oci:${dir}:${tag}`,
    kind: 'image',
    top: image.manifest,
    images: [image],
  };
}

export interface MultiArchOptions {
  tag?: string;
  /** default linux/amd64 and linux/arm64/v8, two distinct layers each (~8 KiB and ~2 MiB) */
  platforms?: Platform[];
}

/** An image index of one image per platform; no layer is shared between platforms. */
export async function buildMultiArchImage(options: MultiArchOptions = {}): Promise<OciLayout> {
  const tag = options.tag ?? '1.0';
  const dir = await newLayoutDir();
  const platforms = options.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];
  const images: BuiltImage[] = [];
  for (const platform of platforms) {
    const arch = platform.architecture + (platform.variant ?? '');
    images.push(
      await buildImageInto(dir, platform, [
        { files: { 'etc/arch': `${arch}\n` }, randomBytes: 8 * 1024 },
        { randomBytes: 2 * 1024 * 1024, payloadPath: `opt/${arch}/payload.bin` },
      ]),
    );
  }
  const index = await writeJsonBlob(dir, MEDIA_TYPES.index, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: images.map((image) => ({
      mediaType: image.manifest.mediaType,
      digest: image.manifest.digest,
      size: image.manifest.size,
      platform: image.platform,
    })),
  });
  await writeIndexJson(dir, tag, index);
  return { dir, tag, ref: `oci:${dir}:${tag}`, kind: 'index', top: index, images };
}

export interface ReadImage {
  manifestDigest: string;
  manifest: { mediaType?: string; config: Descriptor; layers: Descriptor[] };
}

export interface ReadLayout {
  /** what the tag names in `index.json` */
  top: Descriptor;
  /** the index's children, when the tag names an index */
  children: (Descriptor & { platform?: Platform })[];
  images: ReadImage[];
}

/**
 * Reads an OCI layout that skopeo wrote (`oci:DIR:TAG`), checking that every blob it refers to
 * is there and hashes to its digest.
 */
export async function readLayout(dir: string, tag: string): Promise<ReadLayout> {
  const readJson = async (digest: string): Promise<unknown> => {
    const bytes = await readFile(blobPath(dir, digest));
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) {
      throw new Error(`${dir}: blob ${digest} hashes to ${actual}`);
    }
    return JSON.parse(bytes.toString('utf8'));
  };
  const checkBlob = async (descriptor: Descriptor): Promise<void> => {
    const path = blobPath(dir, descriptor.digest);
    const size = (await stat(path)).size;
    const hash = createHash('sha256');
    await pipeline(createReadStream(path), hash);
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== descriptor.digest || size !== descriptor.size) {
      throw new Error(
        `${dir}: blob ${descriptor.digest} (${descriptor.size} B) is ${actual} (${size} B)`,
      );
    }
  };
  const indexJson = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests: (Descriptor & { annotations?: Record<string, string> })[];
  };
  const top = indexJson.manifests.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  );
  if (!top) {
    throw new Error(`${dir}/index.json names no manifest for tag ${tag}`);
  }
  const readImage = async (digest: string): Promise<ReadImage> => {
    const manifest = (await readJson(digest)) as ReadImage['manifest'];
    await checkBlob(manifest.config);
    for (const layer of manifest.layers) {
      await checkBlob(layer);
    }
    return { manifestDigest: digest, manifest };
  };
  if (top.mediaType === MEDIA_TYPES.index) {
    const index = (await readJson(top.digest)) as { manifests: ReadLayout['children'] };
    const images: ReadImage[] = [];
    for (const child of index.manifests) {
      images.push(await readImage(child.digest));
    }
    return { top, children: index.manifests, images };
  }
  return { top, children: [], images: [await readImage(top.digest)] };
}
