const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** What a docker manifest or index points at, by digest. */
export interface ManifestReferences {
  /** an index's (or manifest list's) manifests: one per platform, attestations included */
  manifests: string[];
  /** an image manifest's config and layers */
  blobs: string[];
}

/**
 * The digests a manifest document names, in its order, each once. Entries that are not sha256
 * digests are left out (a warm-up can only ask for what the cache can verify); so are layers
 * with `urls` (foreign layers that registries do not serve).
 */
export function manifestReferences(document: unknown): ManifestReferences {
  const manifests = new Set<string>();
  const blobs = new Set<string>();
  if (document === null || typeof document !== 'object') {
    return { manifests: [], blobs: [] };
  }
  const doc = document as { manifests?: unknown; config?: unknown; layers?: unknown };
  for (const entry of listOf(doc.manifests)) {
    addDigest(manifests, entry);
  }
  addDigest(blobs, doc.config);
  for (const layer of listOf(doc.layers)) {
    if (!Array.isArray((layer as { urls?: unknown } | null)?.urls)) {
      addDigest(blobs, layer);
    }
  }
  return { manifests: [...manifests], blobs: [...blobs] };
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function addDigest(into: Set<string>, descriptor: unknown): void {
  const digest = (descriptor as { digest?: unknown } | null)?.digest;
  if (typeof digest === 'string' && DIGEST.test(digest)) {
    into.add(digest);
  }
}

/**
 * The hex digests a stored manifest document refers to (an index's manifests, a manifest's
 * config and layers): what eviction keeps while the document stays. Empty when the bytes are
 * not a JSON manifest.
 */
export function referencedDigests(bytes: Buffer): string[] {
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch {
    return [];
  }
  const { manifests, blobs } = manifestReferences(document);
  return [...manifests, ...blobs].map((digest) => digest.slice('sha256:'.length));
}
