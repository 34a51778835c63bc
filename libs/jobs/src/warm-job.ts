/**
 * Warm-ups (docs/HTTP-API.md#warm-up): an operator's list of files and docker images, fetched
 * into the cache ahead of the builds that will ask for them. One warm job per request, on its
 * own queue; a fetcher expands it into ordinary fetch jobs at WARM_FETCH_PRIORITY.
 */
export const WARM_QUEUE = 'artifact-warm';
export const WARM_JOB = 'warm';

/** A file of a file remote, or a document of a docker remote, by its job path. */
export interface WarmFile {
  remote: string;
  path: string;
}

/** A docker image: its manifest or index by tag or digest, every platform's manifest, all blobs. */
export interface WarmImage {
  remote: string;
  image: string;
  /** a tag, or `sha256:<hex>` */
  reference: string;
}

export interface WarmJobPayload {
  files: WarmFile[];
  images: WarmImage[];
  /** unix ms */
  requestedAt: number;
}

/**
 * `fetched`: a fetch ran and the file is stored; `cached`: it was stored (and fresh) already;
 * `failed`: with the reason.
 */
export type WarmOutcome = 'fetched' | 'cached' | 'failed';

export interface WarmItem {
  remote: string;
  path: string;
  outcome: WarmOutcome;
  size?: number;
  error?: string;
}

/** Counts so far; `total` grows as images are expanded into their manifests and blobs. */
export interface WarmProgress {
  total: number;
  fetched: number;
  cached: number;
  failed: number;
  /** bytes of the files fetched or found cached */
  bytes: number;
}

export interface WarmResult extends WarmProgress {
  items: WarmItem[];
}

/** How long a finished warm-up stays readable at GET /admin/api/warm/{id}. */
export const WARM_KEEP_SECONDS = 24 * 3600;
