/** What an upstream said about its request budget, from the headers registries send. */
export interface RateLimit {
  limit: number | null;
  remaining: number | null;
}

/**
 * `RateLimit-Limit` / `RateLimit-Remaining` (the IETF draft, as Docker Hub sends them:
 * `100;w=21600`) or their `X-RateLimit-*` forms; null when the response has neither.
 */
export function rateLimitOf(headers: Record<string, string | undefined>): RateLimit | null {
  const limit = leadingCount(headers['ratelimit-limit'] ?? headers['x-ratelimit-limit']);
  const remaining = leadingCount(
    headers['ratelimit-remaining'] ?? headers['x-ratelimit-remaining'],
  );
  return limit === null && remaining === null ? null : { limit, remaining };
}

function leadingCount(value: string | undefined): number | null {
  const match = value === undefined ? null : /^\s*(\d+)/.exec(value);
  return match ? Number(match[1]) : null;
}
