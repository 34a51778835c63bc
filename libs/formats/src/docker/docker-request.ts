import { ArtifactError } from '@app/common';

/** A /v2 request after the remote (or the mirror's default remote) was taken off. */
export type RegistryRequest =
  | { kind: 'manifest'; image: string; reference: Reference }
  | { kind: 'blob'; image: string; digest: string }
  | { kind: 'tags'; image: string; query: string };

export type Reference = { type: 'tag'; tag: string } | { type: 'digest'; hex: string };

/** distribution spec: path components of a repository name */
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:([a-f0-9]{64})$/;
const MAX_NAME_LENGTH = 255;

/**
 * Splits what follows `/v2/` (raw, still percent-encoded; the gateway has checked it against its
 * path rules first) into its name segments and the operation at the end (`manifests/<ref>`,
 * `blobs/<digest>`, `tags/list`). The name is left unvalidated here because its first segment may
 * still turn out to be a remote. The segments stay raw: a reference is decoded once, by
 * parseRegistryRequest, never twice.
 */
export function splitRegistryPath(rest: string): { segments: string[]; operation: string[] } {
  const segments = rest.split('/');
  for (const marker of ['manifests', 'blobs']) {
    const at = segments.lastIndexOf(marker);
    if (at > 0 && at === segments.length - 2) {
      return { segments: segments.slice(0, at), operation: segments.slice(at) };
    }
  }
  if (segments.length >= 3 && segments.at(-2) === 'tags' && segments.at(-1) === 'list') {
    return { segments: segments.slice(0, -2), operation: ['tags', 'list'] };
  }
  throw new ArtifactError('not_found', `unknown registry API path /v2/${rest}`, {
    registryCode: 'UNSUPPORTED',
  });
}

/**
 * An image as people write it, `<image>[:<tag>|@sha256:<hex>]`, split into the image and its
 * reference (null when it names none). Neither is validated here.
 */
export function splitImageReference(text: string): { image: string; reference: string | null } {
  const at = text.indexOf('@');
  if (at >= 0) {
    return { image: text.slice(0, at), reference: text.slice(at + 1) };
  }
  const colon = text.lastIndexOf(':');
  return colon > text.lastIndexOf('/')
    ? { image: text.slice(0, colon), reference: text.slice(colon + 1) }
    : { image: text, reference: null };
}

export function parseRegistryRequest(
  imageSegments: string[],
  operation: string[],
  query: string,
): RegistryRequest {
  const image = validImage(imageSegments);
  const [op, value] = operation;
  if (op === 'manifests') {
    return { kind: 'manifest', image, reference: parseReference(value) };
  }
  if (op === 'blobs') {
    return { kind: 'blob', image, digest: parseDigest(value) };
  }
  return { kind: 'tags', image, query: tagListQuery(query) };
}

function validImage(segments: string[]): string {
  const name = segments.join('/');
  if (
    segments.length === 0 ||
    name.length > MAX_NAME_LENGTH ||
    !segments.every((s) => NAME_COMPONENT.test(s))
  ) {
    throw new ArtifactError('bad_path', `invalid repository name ${JSON.stringify(name)}`, {
      registryCode: 'NAME_INVALID',
    });
  }
  return name;
}

function parseReference(value: string): Reference {
  const decoded = safeDecode(value);
  if (decoded.includes(':')) {
    return { type: 'digest', hex: parseDigest(value) };
  }
  if (!TAG.test(decoded)) {
    throw new ArtifactError('bad_path', `invalid tag ${JSON.stringify(decoded)}`, {
      registryCode: 'MANIFEST_INVALID',
    });
  }
  return { type: 'tag', tag: decoded };
}

/** Only sha256 digests are accepted; anything else is DIGEST_INVALID (400). */
function parseDigest(value: string): string {
  const match = DIGEST.exec(safeDecode(value));
  if (!match) {
    throw new ArtifactError(
      'bad_request',
      `invalid digest ${JSON.stringify(value)}: expected sha256:<64 hex>`,
      {
        registryCode: 'DIGEST_INVALID',
      },
    );
  }
  return match[1];
}

/** Passes only `n` and `last` through, in a fixed order (part of the cache key). */
function tagListQuery(query: string): string {
  const params = new URLSearchParams(query);
  const kept = new URLSearchParams();
  const n = params.get('n');
  const last = params.get('last');
  if (n !== null) {
    if (!/^\d{1,5}$/.test(n)) {
      throw new ArtifactError('bad_request', 'n must be a number', { registryCode: 'UNSUPPORTED' });
    }
    kept.set('n', n);
  }
  if (last !== null) {
    if (!TAG.test(last)) {
      throw new ArtifactError('bad_request', 'last must be a tag', { registryCode: 'UNSUPPORTED' });
    }
    kept.set('last', last);
  }
  return kept.toString();
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ArtifactError('bad_path', 'invalid percent-encoding', {
      registryCode: 'NAME_INVALID',
    });
  }
}
