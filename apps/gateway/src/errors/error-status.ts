import type { ArtifactErrorCode } from '@app/common';

/** The one mapping from a domain error code to an HTTP status (exhaustive: a new code must be added). */
export function statusOf(code: ArtifactErrorCode): number {
  switch (code) {
    case 'bad_path':
    case 'bad_request':
    case 'wrong_package':
    case 'checksum_mismatch':
      return 400;
    case 'unauthorized':
      return 401;
    case 'forbidden':
    case 'admin_disabled':
    case 'bad_token':
      return 403;
    case 'unknown_remote':
    case 'not_found':
    case 'upstream_not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'range_not_satisfiable':
      return 416;
    case 'upstream_unavailable':
    case 'upstream_integrity':
      return 502;
    case 'service_unavailable':
    case 'storage_unavailable':
    case 'upstream_rate_limited':
      return 503;
    case 'fetch_timeout':
    case 'upstream_timeout':
      return 504;
  }
}

/** Registry API v2 error codes (distribution spec) that docker, containerd and skopeo read. */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'UNAVAILABLE';

export function registryCodeOf(code: ArtifactErrorCode): RegistryErrorCode {
  switch (code) {
    case 'unknown_remote':
      return 'NAME_UNKNOWN';
    case 'bad_path':
    case 'bad_request':
      return 'NAME_INVALID';
    case 'checksum_mismatch':
    case 'upstream_integrity':
      return 'DIGEST_INVALID';
    case 'wrong_package':
    case 'range_not_satisfiable':
    case 'conflict':
      return 'UNSUPPORTED';
    case 'unauthorized':
      return 'UNAUTHORIZED';
    case 'forbidden':
    case 'admin_disabled':
    case 'bad_token':
      return 'DENIED';
    case 'not_found':
    case 'upstream_not_found':
      return 'MANIFEST_UNKNOWN';
    case 'upstream_rate_limited':
      return 'TOOMANYREQUESTS';
    case 'upstream_unavailable':
    case 'upstream_timeout':
    case 'service_unavailable':
    case 'storage_unavailable':
    case 'fetch_timeout':
      return 'UNAVAILABLE';
  }
}
