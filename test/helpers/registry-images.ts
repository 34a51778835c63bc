import { createHash } from 'node:crypto';
import type { UpstreamServer } from './upstream-server';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const digestOf = (bytes: Buffer) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** One platform of an image: its blobs, the first being the config. */
export interface PlatformBlobs {
  architecture: string;
  blobs: Buffer[];
}

/** Paths (under the registry's `v2/`) and digests of an image published on a fake registry. */
export interface PublishedImage {
  /** `<image>/manifests/<tag>`: the index */
  index: string;
  indexDigest: string;
  /** `<image>/manifests/<digest>`, one per platform */
  manifests: string[];
  /** `<image>/blobs/<digest>`, each once, in the platforms' order */
  blobs: string[];
}

/**
 * Publishes an image on an UpstreamServer that stands in for a registry at `<url>/<prefix>`: an
 * OCI index by tag, one image manifest per platform by digest, and the blobs, each document
 * with its Content-Type and Docker-Content-Digest.
 */
export function publishImage(
  upstream: UpstreamServer,
  prefix: string,
  image: string,
  tag: string,
  platforms: readonly PlatformBlobs[],
): PublishedImage {
  const blobs = new Set<string>();
  const descriptor = (bytes: Buffer) => {
    const path = `${image}/blobs/${digestOf(bytes)}`;
    upstream.set(`${prefix}/v2/${path}`, { body: bytes });
    blobs.add(path);
    return { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length };
  };
  const document = (path: string, bytes: Buffer, mediaType: string) =>
    upstream.set(`${prefix}/v2/${path}`, {
      body: bytes,
      contentType: mediaType,
      headers: { 'docker-content-digest': digestOf(bytes) },
    });
  const manifests = platforms.map(({ architecture, blobs: [config, ...layers] }) => {
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor(config),
        layers: layers.map(descriptor),
      }),
    );
    document(`${image}/manifests/${digestOf(bytes)}`, bytes, OCI_MANIFEST);
    return {
      mediaType: OCI_MANIFEST,
      digest: digestOf(bytes),
      size: bytes.length,
      platform: { os: 'linux', architecture },
    };
  });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  document(`${image}/manifests/${tag}`, index, OCI_INDEX);
  return {
    index: `${image}/manifests/${tag}`,
    indexDigest: digestOf(index),
    manifests: manifests.map((m) => `${image}/manifests/${m.digest}`),
    blobs: [...blobs],
  };
}
