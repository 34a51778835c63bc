import { z } from 'zod';
import { PACKAGE_TYPES, type PackageType, UPSTREAM_MISSING_POLICIES } from './config.types';
import { formatPath } from './config-error';
import { regexError } from './path-rules';
import { parseByteSize } from './byte-size';
import { parseDuration } from './duration';

/** Remote names are the first URL segment (`/api/v1/remote/<name>/...`, `/v2/<name>/...`). */
const REMOTE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;

/** First path segments the gateway routes itself; a remote with such a name would be unreachable. */
export const RESERVED_REMOTE_NAMES: readonly string[] = [
  'api',
  'v2',
  'cache',
  'health',
  'metrics',
  'config',
  'admin',
  'docs',
  'internal',
];

/** Keys that only make sense for a remote with an upstream. */
const PROXY_ONLY_KEYS = [
  'base_url',
  'immutable_patterns',
  'mutable_patterns',
  'include_patterns',
  'mutable_ttl',
  'check_mutable_updates',
  'negative_ttl',
  'upstream_missing',
  'upstream_timeout',
  'redirect_hosts',
  'username',
  'password',
  'max_size',
  'evict_unused_after',
  'offline',
  'circuit',
  'max_requests_per_minute',
  'max_concurrent',
  'tag_check_window',
  'files_url',
  'sumdb_url',
] as const;

const LOCAL_ONLY_KEYS = ['allow_overwrite'] as const;

const remoteName = z.string().superRefine((name, ctx) => {
  if (!REMOTE_NAME_PATTERN.test(name)) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message:
        'invalid remote name: use lowercase letters, digits, ".", "_" and "-", starting with a letter or digit',
    });
  } else if (RESERVED_REMOTE_NAMES.includes(name)) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `reserved remote name: /${name} is a route of the gateway`,
    });
  }
});

const baseUrl = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an http(s) URL' });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `must be an http(s) URL, not ${url.protocol}`,
    });
  } else if (url.username !== '' || url.password !== '') {
    // Credentials in a URL end up in logs and error messages; the fetcher sends username and
    // password itself, and only to this host.
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'must not contain credentials: set username and password instead',
    });
  } else if (url.search !== '' || url.hash !== '') {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'must not have a query string or fragment (paths are appended to it)',
    });
  }
  return value.replace(/\/+$/, '');
});

const pattern = z.string().superRefine((source, ctx) => {
  const error = regexError(source);
  if (error !== null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid regex (${error})` });
  }
});

const patternList = z.array(pattern);

/** A size (`50GiB`, or bytes) above zero, in bytes. */
const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseByteSize(value);
  if (bytes === null || !Number.isSafeInteger(bytes) || bytes <= 0) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'must be a size above 0 such as 512MiB, 50GiB or 2TiB',
    });
    return z.NEVER;
  }
  return bytes;
});

/** A duration (`30d`, `12h`, or seconds) above zero, in seconds. */
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const seconds = typeof value === 'number' ? value : parseDuration(value);
  if (seconds === null || !Number.isFinite(seconds) || seconds <= 0) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'must be a duration above 0 such as 90m, 12h or 30d',
    });
    return z.NEVER;
  }
  return seconds;
});

const nonNegativeInt = (fallback: number) =>
  z
    .number()
    .int({ message: 'must be an integer >= 0' })
    .min(0, { message: 'must be an integer >= 0' })
    .default(fallback);

/**
 * One remote. Every key is listed here with its default; which keys a remote may use depends on
 * its package and is checked by checkRemoteKeys, before this schema runs, so that a remote with
 * several problems reports all of them.
 */
const remoteFields = z
  .object({
    package: z.enum(PACKAGE_TYPES),
    base_url: baseUrl.optional(),
    immutable_patterns: patternList.optional(),
    mutable_patterns: patternList.optional(),
    include_patterns: patternList.default([]),
    mutable_ttl: nonNegativeInt(300),
    check_mutable_updates: z.boolean().default(false),
    negative_ttl: nonNegativeInt(60),
    upstream_missing: z.enum(UPSTREAM_MISSING_POLICIES).default('serve_stale'),
    upstream_timeout: z
      .number()
      .finite({ message: 'must be a number > 0' })
      .positive({ message: 'must be a number > 0' })
      .default(30),
    redirect_hosts: z
      .array(
        z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/, {
          message: 'must be a host name or address, optionally with :port',
        }),
      )
      .default([]),
    username: z.string().optional(),
    password: z.string().optional(),
    max_size: byteSize.optional(),
    evict_unused_after: duration.optional(),
    offline: z.boolean().default(false),
    circuit: z
      .object({
        failures: z
          .number()
          .int()
          .min(0, { message: 'must be an integer >= 0 (0: no breaker)' })
          .default(5),
        window: z.number().positive({ message: 'must be a number of seconds > 0' }).default(30),
        open_for: z.number().positive({ message: 'must be a number of seconds > 0' }).default(60),
      })
      .strict()
      .default({}),
    max_requests_per_minute: z
      .number()
      .int({ message: 'must be an integer > 0' })
      .positive({ message: 'must be an integer > 0' })
      .optional(),
    max_concurrent: z
      .number()
      .int({ message: 'must be an integer > 0' })
      .positive({ message: 'must be an integer > 0' })
      .optional(),
    tag_check_window: z
      .number()
      .finite({ message: 'must be a number of seconds >= 0' })
      .min(0, { message: 'must be a number of seconds >= 0' })
      .default(0),
    files_url: baseUrl.optional(),
    sumdb_url: baseUrl.optional(),
    allow_overwrite: z.boolean().default(false),
  })
  .strict();

/** Every key a remote may have (which ones a package takes: checkRemoteKeys). */
export const REMOTE_KEYS: readonly string[] = Object.keys(remoteFields.shape);

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isPackageType(value: unknown): value is PackageType {
  return typeof value === 'string' && (PACKAGE_TYPES as readonly string[]).includes(value);
}

function checkRemoteKeys(raw: unknown, ctx: z.RefinementCtx): unknown {
  if (!isMap(raw) || !isPackageType(raw.package)) {
    return raw;
  }
  const addIssue = (key: string, message: string) =>
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message });
  if (raw.package === 'local') {
    for (const key of PROXY_ONLY_KEYS) {
      if (key in raw) {
        addIssue(key, 'not allowed for package local (a hosted remote has no upstream)');
      }
    }
    return raw;
  }
  if (raw.base_url === undefined) {
    addIssue('base_url', 'required');
  }
  for (const key of LOCAL_ONLY_KEYS) {
    if (key in raw) {
      addIssue(key, 'only allowed for package local');
    }
  }
  if (raw.package !== 'docker' && 'tag_check_window' in raw) {
    addIssue('tag_check_window', 'only allowed for package docker (tags are docker manifests)');
  }
  if (raw.package !== 'pypi' && raw.package !== 'cargo' && 'files_url' in raw) {
    addIssue(
      'files_url',
      'only allowed for packages pypi and cargo (where an index links its files to)',
    );
  }
  if (raw.package !== 'go' && 'sumdb_url' in raw) {
    addIssue('sumdb_url', 'only allowed for package go (the checksum database GOSUMDB names)');
  }
  const decidedByFormat: Partial<Record<PackageType, string>> = {
    docker:
      'not used by package docker (manifests by digest and blobs are immutable, tags mutable); use include_patterns to restrict images',
    pypi: 'not used by package pypi (index pages are mutable, the files they link to immutable); use include_patterns to restrict projects',
    npm: 'not used by package npm (packuments are mutable, tarballs immutable); use include_patterns to restrict packages',
    go: 'not used by package go (module versions are immutable, @v/list and @latest mutable); use include_patterns to restrict modules',
    cargo:
      'not used by package cargo (config.json and index files are mutable, crates immutable); use include_patterns to restrict crates',
  };
  const reason = decidedByFormat[raw.package];
  if (reason !== undefined) {
    for (const key of ['immutable_patterns', 'mutable_patterns']) {
      if (key in raw) {
        addIssue(key, reason);
      }
    }
  }
  return raw;
}

const remoteSchema = z.preprocess(checkRemoteKeys, remoteFields);

function checkDefaultRemote(raw: unknown, ctx: z.RefinementCtx): unknown {
  if (!isMap(raw) || !isMap(raw.docker) || typeof raw.docker.default_remote !== 'string') {
    return raw;
  }
  const name = raw.docker.default_remote;
  const remote =
    isMap(raw.remotes) && Object.hasOwn(raw.remotes, name) ? raw.remotes[name] : undefined;
  const path = ['docker', 'default_remote'];
  if (!isMap(remote)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `no remote named "${name}"` });
  } else if (remote.package !== 'docker') {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path,
      message: `remote "${name}" is not of package docker`,
    });
  }
  return raw;
}

/** The remotes file (ARTIFACT_CONFIG), after `${VAR}` substitution. */
const remotesFileSchema = z.preprocess(
  checkDefaultRemote,
  z
    .object({
      remotes: z.record(remoteName, remoteSchema),
      docker: z.object({ default_remote: z.string().nullish() }).strict().nullish(),
      storage: z
        .object({
          max_size: byteSize.optional(),
          evict_interval: duration.default(60),
          gc_grace: duration.default(600),
        })
        .strict()
        .nullish(),
    })
    .strict(),
);

export type RemoteFileEntry = z.infer<typeof remoteFields>;
export type RemotesFile = z.infer<typeof remotesFileSchema>;

const TYPE_NAMES: Record<string, string> = {
  object: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  null: 'empty',
};

function describeType(type: string): string {
  return TYPE_NAMES[type] ?? type;
}

/** One line per problem, each starting with the field: `remotes.x.packge: unknown key`. */
export function formatIssues(issues: readonly z.ZodIssue[]): string[] {
  // One problem per field: the first is the useful one (`base_url: not allowed for package local`
  // rather than also `base_url: must be an http(s) URL`; `-1.5` is not also "not an integer").
  const seen = new Set<string>();
  const firstPerField = issues.filter((issue) => {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      return true;
    }
    const field = formatPath(issue.path);
    if (seen.has(field)) {
      return false;
    }
    seen.add(field);
    return true;
  });
  return firstPerField.flatMap((issue) => {
    const at = (path: readonly (string | number)[]) => formatPath(path) || '(top level)';
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      return issue.keys.map((key) => `${at([...issue.path, key])}: unknown key`);
    }
    // `.int()` reports a float as invalid_type; its own message says what is expected.
    if (issue.code === z.ZodIssueCode.invalid_type && issue.received !== 'float') {
      return issue.received === 'undefined'
        ? [`${at(issue.path)}: required`]
        : [
            `${at(issue.path)}: must be ${describeType(issue.expected)}, got ${describeType(issue.received)}`,
          ];
    }
    if (issue.code === z.ZodIssueCode.invalid_enum_value) {
      return [
        `${at(issue.path)}: must be one of ${issue.options.join(', ')} (got "${String(issue.received)}")`,
      ];
    }
    return [`${at(issue.path)}: ${issue.message}`];
  });
}

export type RemotesFileValidation =
  | { readonly ok: true; readonly file: RemotesFile }
  | { readonly ok: false; readonly issues: readonly z.ZodIssue[] };

export function validateRemotesFile(data: unknown): RemotesFileValidation {
  const result = remotesFileSchema.safeParse(data);
  return result.success
    ? { ok: true, file: result.data }
    : { ok: false, issues: result.error.issues };
}
