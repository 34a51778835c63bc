import { type RedirectPolicy, addressClass, redirectAllowed } from './redirect-guard';

describe('addressClass', () => {
  it.each([
    ['93.184.216.34', 'public'],
    ['2606:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.5', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.169.254', 'link_local'],
    ['fe80::1', 'link_local'],
    ['0.0.0.0', 'other_internal'],
    ['::', 'other_internal'],
    ['224.0.0.1', 'other_internal'],
  ])('%s is %s', (address, kind) => {
    expect(addressClass(address)).toBe(kind);
  });
});

describe('redirectAllowed', () => {
  const publicBase: RedirectPolicy = { redirectHosts: [], baseClasses: ['public'] };
  const internalBase: RedirectPolicy = { redirectHosts: [], baseClasses: ['private'] };
  const loopbackBase: RedirectPolicy = { redirectHosts: [], baseClasses: ['loopback'] };
  const listed: RedirectPolicy = {
    redirectHosts: ['Metadata.Internal', 'minio:9000'],
    baseClasses: ['public'],
  };

  it.each([
    // host, port, addresses, policy, allowed
    ['cdn.example.org', '443', ['93.184.216.34'], publicBase, true],
    ['cdn.example.org', '443', ['93.184.216.34', '10.0.0.1'], publicBase, false],
    ['localhost', '8081', ['127.0.0.1'], publicBase, false],
    ['minio', '9000', ['172.18.0.4'], publicBase, false],
    ['169.254.169.254', '80', ['169.254.169.254'], publicBase, false],
    ['storage.lan', '80', ['10.0.0.7'], internalBase, true],
    ['localhost', '80', ['127.0.0.1'], loopbackBase, true],
    ['169.254.169.254', '80', ['169.254.169.254'], internalBase, false],
    ['169.254.169.254', '80', ['169.254.169.254'], loopbackBase, false],
    ['0.0.0.0', '80', ['0.0.0.0'], internalBase, false],
    ['metadata.internal', '80', ['169.254.169.254'], listed, true],
    ['minio', '9000', ['172.18.0.4'], listed, true],
    ['minio', '9001', ['172.18.0.4'], listed, false],
    ['nowhere', '80', [], internalBase, false],
  ] as const)('%s:%s → %j with %j: %s', (host, port, addresses, policy, allowed) => {
    expect(redirectAllowed(host, port, addresses, policy)).toBe(allowed);
  });
});
