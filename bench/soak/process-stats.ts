import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
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
  /** sockets by what is at the other end (see `socketsByPeer`) */
  peers: Record<string, number>;
}

interface TcpSocket {
  localPort: number;
  remotePort: number;
  listening: boolean;
}

/** Every TCP socket of this network namespace by inode (/proc/net/tcp and tcp6). */
export function tcpSockets(): Map<string, TcpSocket> {
  const sockets = new Map<string, TcpSocket>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) {
        continue;
      }
      const port = (address: string) => parseInt(address.slice(address.lastIndexOf(':') + 1), 16);
      sockets.set(fields[9], {
        localPort: port(fields[1]),
        remotePort: port(fields[2]),
        // st 0A: TCP_LISTEN
        listening: fields[3] === '0A',
      });
    }
  }
  return sockets;
}

/**
 * What a socket is, for the report: `→redis` (a connection to the port named redis),
 * `←gateway` (a connection accepted on the gateway's own port), `listening`, `unix`, `tcp`.
 */
function peerOf(socket: TcpSocket | undefined, ports: ReadonlyMap<number, string>): string {
  if (!socket) {
    return 'unix';
  }
  if (socket.listening) {
    return 'listening';
  }
  const remote = ports.get(socket.remotePort);
  if (remote) {
    return `→${remote}`;
  }
  const local = ports.get(socket.localPort);
  return local ? `←${local}` : 'tcp';
}

/** VmRSS of a live process (Linux /proc). */
function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
}

/**
 * RSS and open descriptors of a live process, read from /proc; sockets named by the port at
 * their other end through `ports` (`tcp`: one reading of the TCP tables for several processes).
 */
export function sampleProcess(
  pid: number,
  ports: ReadonlyMap<number, string> = new Map(),
  tcp: ReadonlyMap<string, TcpSocket> = tcpSockets(),
): ProcessSample {
  const sample: ProcessSample = {
    rssKiB: readRssKiB(pid),
    fds: 0,
    sockets: 0,
    files: 0,
    pipes: 0,
    other: 0,
    peers: {},
  };
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
      const peer = peerOf(tcp.get(target.slice('socket:['.length, -1)), ports);
      sample.peers[peer] = (sample.peers[peer] ?? 0) + 1;
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

/** What a process holds after a full garbage collection (gc-probe.js). */
export interface MemoryAfterGc {
  rssKiB: number;
  /** V8 heap in use */
  heapKiB: number;
  /** memory of Buffers and other objects outside the V8 heap */
  externalKiB: number;
}

/** Regular files under `dir`, recursively (0 when it does not exist). */
/**
 * Files in a fetcher's spool directory, but its `.owner` marker (the pid that owns the directory,
 * which the janitor reads): spool files proper are the bytes of fetches.
 */
export function countSpoolFiles(dir: string): number {
  return countFiles(dir) - (existsSync(join(dir, '.owner')) ? 1 : 0);
}

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
