import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** Where an address points, as far as redirects are concerned. */
export type AddressClass = 'public' | 'loopback' | 'private' | 'link_local' | 'other_internal';

function blockList(subnets: ReadonlyArray<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of subnets) {
    list.addSubnet(network, prefix, family);
  }
  return list;
}

const CLASSES: ReadonlyArray<[Exclude<AddressClass, 'public'>, BlockList]> = [
  [
    'loopback',
    blockList([
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ]),
  ],
  [
    'private',
    blockList([
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['100.64.0.0', 10, 'ipv4'],
      ['fc00::', 7, 'ipv6'],
    ]),
  ],
  [
    // Cloud metadata services (169.254.169.254, fd00:ec2::254 is in fc00::/7 above) live here.
    'link_local',
    blockList([
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ]),
  ],
  [
    'other_internal',
    blockList([
      ['0.0.0.0', 8, 'ipv4'],
      ['192.0.0.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'],
      ['224.0.0.0', 4, 'ipv4'],
      ['240.0.0.0', 4, 'ipv4'],
      ['::', 128, 'ipv6'],
      ['ff00::', 8, 'ipv6'],
      ['64:ff9b:1::', 48, 'ipv6'],
    ]),
  ],
];

export function addressClass(address: string): AddressClass {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  for (const [name, list] of CLASSES) {
    if (list.check(address, family)) {
      return name;
    }
  }
  return 'public';
}

export interface RedirectPolicy {
  /** host names (or host:port) the remote's `redirect_hosts` allows whatever they resolve to */
  redirectHosts: readonly string[];
  /** the classes of the addresses base_url itself resolves to */
  baseClasses: readonly AddressClass[];
}

/**
 * Whether a redirect may lead to `host` (port `port`), which resolves to `addresses`. Public
 * addresses are fine. Loopback and private ones only when base_url is itself internal (a mirror
 * inside the network redirecting to its own storage); link-local (metadata services) and the
 * rest never. `redirect_hosts` overrides all of it for hosts the operator names.
 */
export function redirectAllowed(
  host: string,
  port: string,
  addresses: readonly string[],
  policy: RedirectPolicy,
): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (
    policy.redirectHosts.some((allowed) => {
      const entry = allowed.toLowerCase();
      return entry === name || entry === `${name}:${port}`;
    })
  ) {
    return true;
  }
  const internalMirror = policy.baseClasses.some((c) => c === 'loopback' || c === 'private');
  return (
    addresses.length > 0 &&
    addresses.every((address) => {
      const kind = addressClass(address);
      return kind === 'public' || (internalMirror && (kind === 'loopback' || kind === 'private'));
    })
  );
}

/** All addresses of a host (an IP literal is its own address). */
export function resolveAll(host: string): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare) !== 0) {
    return Promise.resolve([bare]);
  }
  return new Promise((resolve, reject) => {
    dnsLookup(bare, { all: true }, (error, found: LookupAddress[]) =>
      error ? reject(error) : resolve(found.map((entry) => entry.address)),
    );
  });
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http.request that refuses to connect to what `allowed` rejects: the check runs
 * on the very addresses the socket will use, so a DNS answer that changes between our check and
 * the connection (rebinding) cannot lead a redirect inside.
 */
export function guardedLookup(allowed: (addresses: string[]) => boolean) {
  return (hostname: string, options: object, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, found: LookupAddress[]) => {
      if (error) {
        callback(error, []);
        return;
      }
      if (!allowed(found.map((entry) => entry.address))) {
        const refused = Object.assign(new Error(`redirect to ${hostname} refused`), {
          code: 'EREDIRECTREFUSED',
        });
        callback(refused, []);
        return;
      }
      const all = (options as { all?: boolean }).all === true;
      if (all) {
        callback(null, found);
      } else {
        callback(null, found[0].address, found[0].family);
      }
    });
  };
}
