/**
 * Where the route of file remotes (every package but docker) starts: `/api/v1/remote/<remote>/<path>`;
 * paths after it are cut from the raw URL (the gateway's path-guard).
 */
export const ARTIFACT_ROUTE_PREFIX = '/api/v1/remote/';
