/**
 * Domain errors. Libraries and services throw these; the gateway's ApiExceptionFilter is the one
 * place that turns a code into an HTTP status and body (an exhaustive switch, so a new code
 * without a mapping does not compile).
 */
export const ARTIFACT_ERROR_CODES = [
  'unknown_remote',
  'wrong_package',
  'bad_path',
  'bad_request',
  'forbidden',
  'not_found',
  'upstream_not_found',
  'upstream_unavailable',
  'upstream_integrity',
  'upstream_timeout',
  'upstream_rate_limited',
  'checksum_mismatch',
  'conflict',
  'unauthorized',
  'admin_disabled',
  'bad_token',
  'range_not_satisfiable',
  'fetch_timeout',
  'service_unavailable',
  'storage_unavailable',
] as const;
export type ArtifactErrorCode = (typeof ARTIFACT_ERROR_CODES)[number];

export class ArtifactError extends Error {
  constructor(
    readonly code: ArtifactErrorCode,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ArtifactError';
  }
}

export function isArtifactError(error: unknown, code?: ArtifactErrorCode): error is ArtifactError {
  return error instanceof ArtifactError && (code === undefined || error.code === code);
}
