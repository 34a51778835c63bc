import type { HeaderBuilder } from '../serving/artifact-headers';

/**
 * Registry API v2 response headers: Docker-Content-Digest of the exact bytes, the manifest's media
 * type, Content-Length on GET and HEAD.
 */
function registryHeaders(kind: 'manifest' | 'blob' | 'tags'): HeaderBuilder {
  return (artifact, source, range) => {
    const headers: Record<string, string> = {
      'content-type': artifact.contentType,
      'docker-distribution-api-version': 'registry/2.0',
      'x-artifact-source': source,
    };
    if (artifact.size !== null) {
      headers['content-length'] = String(range ? range.end - range.start + 1 : artifact.size);
    }
    if (kind === 'blob') {
      headers['accept-ranges'] = 'bytes';
      if (range && artifact.size !== null) {
        headers['content-range'] = `bytes ${range.start}-${range.end}/${artifact.size}`;
      }
    }
    if (artifact.sha256 && kind !== 'tags') {
      headers['docker-content-digest'] = `sha256:${artifact.sha256}`;
      headers.etag = `"sha256:${artifact.sha256}"`;
    }
    return headers;
  };
}

export const REGISTRY_HEADERS = {
  manifest: registryHeaders('manifest'),
  blob: registryHeaders('blob'),
  tags: registryHeaders('tags'),
} as const;
