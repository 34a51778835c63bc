import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessSample {
  /** VmRSS */
  rssKiB: number;
  /** entries of /proc/<pid>/fd */
  fds: number;
  /** what they are: sockets, regular files, pipes and the rest (eventfd, epoll, ...) */
  sockets: number;
  files: number;
  pipes: number;
  other: number;
}

/** RSS and open descriptors of a live process, read from /proc (Linux). */
export function sampleProcess(pid: number): ProcessSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
  const sample: ProcessSample = { rssKiB, fds: 0, sockets: 0, files: 0, pipes: 0, other: 0 };
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      // closed between the listing and the readlink
      continue;
    }
    sample.fds += 1;
    if (target.startsWith('socket:')) {
      sample.sockets += 1;
    } else if (target.startsWith('pipe:')) {
      sample.pipes += 1;
    } else if (target.startsWith('/')) {
      sample.files += 1;
    } else {
      sample.other += 1;
    }
  }
  return sample;
}

/** Regular files under `dir`, recursively (0 when it does not exist). */
export function countFiles(dir: string): number {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let count = 0;
  for (const entry of entries) {
    if (entry.isDirectory()) {
      count += countFiles(join(dir, entry.name));
    } else {
      count += 1;
    }
  }
  return count;
}
