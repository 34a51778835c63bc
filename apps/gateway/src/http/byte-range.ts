import { ArtifactError } from '@app/common';

export interface ResolvedRange {
  start: number;
  end: number;
}

/**
 * A single-range `Range: bytes=...` against a known size (RFC 9110 §14.1.2). Returns null when the
 * header is absent, not a bytes range, or asks for several ranges (answered with the whole body,
 * which the RFC allows). Throws range_not_satisfiable when no byte of the range exists.
 */
export function resolveRange(header: string | undefined, size: number): ResolvedRange | null {
  if (!header) {
    return null;
  }
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) {
    return null;
  }
  const [, first, last] = match;
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) {
      throw unsatisfiable(size);
    }
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) {
      return null;
    }
  }
  if (start >= size || size === 0) {
    throw unsatisfiable(size);
  }
  return { start, end };
}

function unsatisfiable(size: number): ArtifactError {
  return new ArtifactError('range_not_satisfiable', `range not satisfiable for ${size} bytes`, {
    size,
  });
}
