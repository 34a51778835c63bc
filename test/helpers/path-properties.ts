import fc from 'fast-check';
import { ArtifactError } from '@app/common';
import { MAX_KEY_BYTES, keyProblem } from '@app/storage';
import { MAX_PATH_BYTES } from '../../apps/gateway/src/http/path-guard';

/**
 * Generators of hostile request paths for the path-guard properties (unit and e2e), and the
 * checks that say whether a storage key or an upstream request stayed where it belongs.
 */

const HEX64 = 'a'.repeat(64);

/** '.' in every spelling: literal, encoded in either case, double and triple encoded, mixed. */
const dot = fc.constantFrom(
  '.',
  '%2e',
  '%2E',
  '%252e',
  '%252E',
  '%25252e',
  '%25%32%65',
  '%2525%32%45',
  '%c0%ae', // overlong UTF-8 '.', which decoders must refuse
  '%e0%80%ae',
);

const slash = fc.constantFrom('/', '/', '/', '//', '%2f', '%2F', '%252f', '%25252F', '%25%32%66');
const backslash = fc.constantFrom('\\', '%5c', '%5C', '%255c', '%25255C', '%c1%9c');
const nul = fc.constantFrom('%00', '%2500', '%252500', '%25%30%30');
const control = fc.oneof(
  fc.integer({ min: 0, max: 0x1f }).map((code) => `%${code.toString(16).padStart(2, '0')}`),
  fc.constantFrom('%7f', '%7F', '%c2%85', '%e2%80%8b', '%e2%80%ae'),
);
/** Escapes that are not valid UTF-8 or not escapes at all. */
const badPercent = fc.constantFrom(
  '%',
  '%z',
  '%zz',
  '%2',
  '%e9',
  '%c3',
  '%c3%28',
  '%ed%a0%80', // a lone surrogate, UTF-8 encoded
  '%ed%bf%bf',
  '%f4%90%80%80', // above U+10FFFF
  '%ff',
  '%25',
  '%2525',
);
/** Astral, BMP and latin-1 characters, percent-encoded as a client would send them. */
const encodedUnicode = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 3 })
  .map((text) => encodeURIComponent(text));
/** Names real clients ask for, and names with a meaning to the gateway, storage or URLs. */
const word = fc.constantFrom(
  'a',
  'b',
  'file.bin',
  'pkg-1.0.tar.gz',
  'v1.0',
  'library',
  'alpine',
  'manifests',
  'blobs',
  'tags',
  'list',
  'latest',
  `sha256:${HEX64}`,
  `sha256%3A${HEX64}`,
  '_blobs',
  '_tags',
  '.staging',
  '.staging-x',
  '.hidden',
  '...',
  '~',
  '@mirror.example.org',
  'http:',
  '%40',
  '%3a',
  '+',
  '%20',
  ';x',
  '?n=1',
  '#f',
  '%3f',
  '%23',
);
/** Lengths around the 1024-byte path limit, literal or encoded. */
const long = fc.oneof(
  fc.integer({ min: 1000, max: 1100 }).map((n) => 'a'.repeat(n)),
  fc.integer({ min: 330, max: 350 }).map((n) => '%61'.repeat(n)),
  fc.integer({ min: 160, max: 180 }).map((n) => '%c3%a9'.repeat(n)),
  fc.integer({ min: 500, max: 520 }).map((n) => 'a/'.repeat(n)),
  fc.integer({ min: 2, max: 400 }).map((n) => '../'.repeat(n)),
);

/** Characters a JavaScript caller may pass but no HTTP request line can carry unencoded. */
const rawOnlyUnicode = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
  fc.integer({ min: 0, max: 0x20 }).map((code) => String.fromCharCode(code)),
  fc.constantFrom('\u0000', '\u007f', '\uFEFF', '\u202e', '\u{1F600}'),
);
/** Latin-1 bytes sent raw in the request line (Node's client writes them as single bytes). */
const latin1 = fc.integer({ min: 0x80, max: 0xff }).map((code) => String.fromCharCode(code));

/**
 * `http`: only what an HTTP request line can carry (no raw characters outside \u0021-\u00ff), as
 * sent by Node's client. `benign`: fewer hostile pieces, so that more requests pass the guard and
 * reach storage and the upstream.
 */
export interface PathOptions {
  http: boolean;
  benign?: boolean;
}

/** A piece of a segment: mostly names, otherwise one of the hostile spellings. */
function piece(options: PathOptions): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: word, weight: options.benign ? 300 : 30 },
    { arbitrary: dot, weight: 3 },
    { arbitrary: dot.map((d) => d + d), weight: 3 },
    { arbitrary: backslash, weight: 1 },
    { arbitrary: nul, weight: 1 },
    { arbitrary: control, weight: 1 },
    { arbitrary: badPercent, weight: 2 },
    { arbitrary: encodedUnicode, weight: 4 },
    { arbitrary: options.http ? latin1 : rawOnlyUnicode, weight: 2 },
    { arbitrary: long, weight: 1 },
  );
}

/** Segments of pieces joined by '/' or an encoded slash, sometimes with a leading or trailing one. */
function segmentedPath(options: PathOptions): fc.Arbitrary<string> {
  const odds = options.benign ? 5 : 1;
  const segment = fc.array(piece(options), { minLength: 1, maxLength: 3 }).map((p) => p.join(''));
  const separator = fc.oneof({ arbitrary: fc.constant('/'), weight: 12 * odds }, slash);
  const edge = fc.oneof({ arbitrary: fc.constant(''), weight: 8 * odds }, slash);
  const segments = { minLength: options.benign ? 1 : 0, maxLength: 6 };
  return fc
    .tuple(edge, fc.array(fc.tuple(segment, separator), segments), edge)
    .map(([lead, parts, trail]) => {
      const body = parts.map(([seg, sep], i) => (i === 0 ? seg : sep + seg)).join('');
      return lead + body + trail;
    });
}

/** A segment made of nothing but dots, encoded separators, backslashes and NULs. */
const traversalSegment = fc
  .array(fc.oneof({ arbitrary: dot, weight: 4 }, slash, backslash, nul), {
    minLength: 1,
    maxLength: 4,
  })
  .map((parts) => parts.join(''));

/**
 * A raw (still percent-encoded) path after a route prefix: a generated path, or one that climbs:
 * an ordinary path, a segment of only dots and separators in some spelling, an ordinary path.
 */
export function rawPath(options: PathOptions): fc.Arbitrary<string> {
  const ordinary = segmentedPath({ ...options, benign: true });
  return fc.oneof(
    { arbitrary: segmentedPath(options), weight: 3 },
    {
      arbitrary: fc
        .tuple(ordinary, fc.array(traversalSegment, { minLength: 1, maxLength: 3 }), ordinary)
        .map(([before, climb, after]) => [before, ...climb, after].join('/')),
      weight: 1,
    },
  );
}

/** A raw remote segment: the configured name in several spellings, or anything else. */
export function rawRemote(names: readonly string[], options: PathOptions): fc.Arbitrary<string> {
  const spelled = fc
    .constantFrom(...names)
    .chain((name) =>
      fc.constantFrom(
        name,
        name,
        name,
        name,
        `%${name.charCodeAt(0).toString(16)}${name.slice(1)}`,
        `${name}%2f..`,
        `${name}%252f%252e%252e`,
        `${name}%00`,
        `${name}%2e`,
      ),
    );
  return fc.oneof(
    { arbitrary: spelled, weight: 6 },
    { arbitrary: dot, weight: 1 },
    { arbitrary: rawPath(options).map((path) => path.replace(/\//g, '')), weight: 1 },
  );
}

/** What follows `/v2/` for a docker remote named `remote`: a name, an operation, a query. */
export function rawRegistryRest(remote: string, options: PathOptions): fc.Arbitrary<string> {
  const name = fc.array(
    fc.oneof(
      {
        arbitrary: fc.constantFrom('library', 'alpine', 'a', 'my-image', 'x_y', 'v1.2'),
        weight: 6,
      },
      { arbitrary: piece(options), weight: 3 },
    ),
    { minLength: 1, maxLength: 4 },
  );
  const reference = fc.oneof(
    fc.constantFrom(
      'latest',
      '3.20',
      `sha256:${HEX64}`,
      `sha256%3A${HEX64}`,
      `sha256:${HEX64}%252e`,
    ),
    rawPath(options),
  );
  const operation = fc.oneof(
    reference.map((ref) => `manifests/${ref}`),
    reference.map((ref) => `blobs/${ref}`),
    fc.constantFrom('tags/list', 'tags/list?n=10', 'tags/list?last=v1&n=5', 'tags/list?n=x'),
    rawPath(options),
  );
  return fc
    .tuple(fc.boolean(), name, operation)
    .map(([prefixed, segments, op]) =>
      [...(prefixed ? [remote] : []), segments.join('/'), op].join('/'),
    );
}

/**
 * Why `text` (an upstream request path as received, or a storage key) is not under `prefix`, or
 * null. Judged as the most careless reader would: decoded any number of times (a proxy, an
 * S3-compatible store or a web server may each decode once more), every reading must start with
 * `prefix` and have no '.' or '..' segment, backslash or NUL.
 */
export function escapeFault(text: string, prefix: string): string | null {
  for (;;) {
    if (!text.startsWith(prefix)) {
      return `${JSON.stringify(text)} is not under ${prefix}`;
    }
    const segments = text.split('/');
    if (segments.some((segment) => segment === '.' || segment === '..')) {
      return `${JSON.stringify(text)} has a dot segment`;
    }
    if (/[\\\0]/.test(text)) {
      return `${JSON.stringify(text)} has a backslash or NUL`;
    }
    const next = text.replace(/%([0-9a-f]{2})/gi, (_escape, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
    if (next === text) {
      return null;
    }
    text = next;
  }
}

/**
 * The result of `run`, or the ArtifactError it threw (a refusal, answered with a 4xx). Anything
 * else thrown fails the property: the gateway would answer it with a 500.
 */
export function guarded<T>(run: () => T): T | ArtifactError {
  try {
    return run();
  } catch (error) {
    if (error instanceof ArtifactError) {
      return error;
    }
    throw new Error(`threw a non-ArtifactError: ${String(error)}`);
  }
}

/**
 * Why a storage key is not a valid key under `<remote>/`, or null. One problem is let through: a
 * path within the 1024-byte path limit whose key, with `<remote>/` in front, is over the
 * 1024-byte key limit. The drivers check every key (assertValidKey) before any read or write, and
 * the gateway reads storage before it asks the upstream, so such a path is refused with a 400,
 * not an escape; each of its segments must still be valid.
 */
export function keyFault(key: string, remote: string): string | null {
  const escape = escapeFault(key, `${remote}/`);
  if (escape !== null) {
    return escape;
  }
  const problem = keyProblem(key);
  if (problem === null || Buffer.byteLength(key) <= MAX_KEY_BYTES) {
    return problem;
  }
  if (Buffer.byteLength(key) - Buffer.byteLength(`${remote}/`) > MAX_PATH_BYTES) {
    return `the path of ${key} is over the ${MAX_PATH_BYTES}-byte path limit`;
  }
  return (
    key
      .split('/')
      .map(keyProblem)
      .find((segmentProblem) => segmentProblem !== null) ?? null
  );
}

/** Why `url` is not `baseUrl` + the path, with the same origin and under base_url's path. */
export function urlFault(url: URL, baseUrl: string, path: string): string | null {
  const base = new URL(baseUrl);
  const basePath = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  if (url.origin !== base.origin || url.username !== '' || url.password !== '') {
    return `${url.href} leaves ${base.origin}`;
  }
  const reparsed = new URL(url.href);
  const fault = escapeFault(reparsed.pathname, basePath);
  if (fault !== null) {
    return fault;
  }
  const named = reparsed.pathname.slice(basePath.length).split('/').map(decodeURIComponent);
  return named.join('/') === path ? null : `${url.href} does not name ${JSON.stringify(path)}`;
}
