import type { RemoteConfig } from '@app/config';
import { FORMATS, fetchTargetOf, servesImages, splitImageReference } from '@app/formats';
import type { WarmFile, WarmImage } from '@app/jobs';
import { formatPath } from '../../http/format-path';

/** Entries one warm-up may list; a longer list is several warm-ups. */
const MAX_WARM_ENTRIES = 1000;

export type WarmRequest =
  { ok: true; files: WarmFile[]; images: WarmImage[] } | { ok: false; problems: string[] };

/**
 * The body of POST /admin/api/warm: `{"paths": ["<remote>/<path>", …], "images":
 * ["<remote>/<image>[:<tag>|@sha256:<hex>]", …]}`, each entry named as a client would name it
 * (the remote first). Every problem is reported, each naming its entry; nothing is queued then.
 */
export function parseWarmRequest(
  body: unknown,
  remotes: Readonly<Record<string, RemoteConfig>>,
): WarmRequest {
  const problems: string[] = [];
  const files: WarmFile[] = [];
  const images: WarmImage[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, problems: ['the body must be a JSON object with "paths" and/or "images"'] };
  }
  const { paths, images: refs, ...rest } = body as Record<string, unknown>;
  for (const key of Object.keys(rest)) {
    problems.push(`${key}: unknown key (use "paths" and "images")`);
  }
  const listed = (name: string, value: unknown): string[] => {
    if (value === undefined) {
      return [];
    }
    if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
      problems.push(`${name}: must be a list of strings`);
      return [];
    }
    return value;
  };
  const pathList = listed('paths', paths);
  const imageList = listed('images', refs);
  if (pathList.length + imageList.length === 0 && problems.length === 0) {
    problems.push('nothing to warm: give "paths", "images" or both');
  }
  if (pathList.length + imageList.length > MAX_WARM_ENTRIES) {
    problems.push(`at most ${MAX_WARM_ENTRIES} entries in one warm-up`);
  }
  for (const entry of pathList) {
    const file = fileOf(entry, remotes);
    if (typeof file === 'string') {
      problems.push(`paths: ${entry}: ${file}`);
    } else {
      files.push(file);
    }
  }
  for (const entry of imageList) {
    const image = imageOf(entry, remotes);
    if (typeof image === 'string') {
      problems.push(`images: ${entry}: ${image}`);
    } else {
      images.push(image);
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, files, images };
}

/** The file, or what is wrong with the entry. */
function fileOf(entry: string, remotes: Readonly<Record<string, RemoteConfig>>): WarmFile | string {
  const [name, path] = splitRemote(entry);
  const remote = remotes[name];
  if (!remote) {
    return `no remote ${name}`;
  }
  if (remote.package === 'local') {
    return `${name} is a hosted remote: its files are here already`;
  }
  const format = FORMATS[remote.package];
  if (format.route === 'registry') {
    return `${name} is a ${remote.package} remote: list its images under "images"`;
  }
  if (path === '') {
    return 'no path after the remote';
  }
  try {
    const clean = formatPath(remote, path);
    // The path the fetch job names: one stored variant's (pypi's index.html) where it has several.
    return { remote: name, path: fetchTargetOf(remote, clean).jobPath ?? clean };
  } catch (error) {
    return (error as Error).message;
  }
}

/** The image, or what is wrong with the entry. */
function imageOf(
  entry: string,
  remotes: Readonly<Record<string, RemoteConfig>>,
): WarmImage | string {
  const [name, rest] = splitRemote(entry);
  const remote = remotes[name];
  if (!remote) {
    return `no remote ${name}`;
  }
  if (!servesImages(remote)) {
    return `${name} is not a docker remote: list its files under "paths"`;
  }
  const { image, reference: named } = splitImageReference(rest);
  const reference = named ?? 'latest';
  if (image === '') {
    return 'no image after the remote';
  }
  return (
    targetProblem(() => fetchTargetOf(remote, `${image}/manifests/${reference}`)) ?? {
      remote: name,
      image,
      reference,
    }
  );
}

function splitRemote(entry: string): [string, string] {
  const trimmed = entry.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  return slash < 0 ? [trimmed, ''] : [trimmed.slice(0, slash), trimmed.slice(slash + 1)];
}

function targetProblem(derive: () => unknown): string | null {
  try {
    derive();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
