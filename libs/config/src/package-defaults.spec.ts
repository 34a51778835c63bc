import { buildAppConfig } from './app-config.loader';
import type { PathClass, ProxyPackageType, ProxyRemoteConfig } from './config.types';
import { PACKAGE_DEFAULTS } from './package-defaults';
import { classifyPath, regexError } from './path-rules';

function remoteWithDefaults(pkg: ProxyPackageType): ProxyRemoteConfig {
  const config = buildAppConfig({
    remotes: { upstream: { package: pkg, base_url: 'https://mirror.example.org/repo' } },
  });
  return config.remotes.upstream as ProxyRemoteConfig;
}

const SHA256 = 'a'.repeat(40) + '0123456789abcdef0123456789ab';
const SHA1 = '3f2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6';
const SHA512 = 'c0ffee42'.repeat(16);

// Docker and pypi paths are classified by their format's own layout: libs/formats.
const cases: Record<
  Exclude<ProxyPackageType, 'docker' | 'pypi' | 'npm' | 'cargo' | 'go'>,
  readonly (readonly [string, PathClass])[]
> = {
  rpm: [
    ['almalinux/9/BaseOS/x86_64/os/Packages/bash-5.1.8-9.el9.x86_64.rpm', 'immutable'],
    ['almalinux/9/BaseOS/Source/Packages/bash-5.1.8-9.el9.src.rpm', 'immutable'],
    ['fedora/updates/39/Everything/x86_64/drpms/kernel-6.7.5-200.fc39.x86_64.drpm', 'immutable'],
    [`almalinux/9/BaseOS/x86_64/os/repodata/${SHA256}-primary.xml.gz`, 'immutable'],
    [`almalinux/9/BaseOS/x86_64/os/repodata/${SHA1}-filelists.sqlite.bz2`, 'immutable'],
    [`almalinux/9/AppStream/x86_64/os/repodata/${SHA256}-modules.yaml.xz`, 'immutable'],
    [`epel/9/Everything/x86_64/repodata/${SHA512}-updateinfo.xml.zst`, 'immutable'],
    [`repodata/${SHA256}-comps-BaseOS.x86_64.xml`, 'immutable'],
    ['almalinux/9/BaseOS/x86_64/os/repodata/repomd.xml', 'mutable'],
    ['almalinux/9/BaseOS/x86_64/os/repodata/repomd.xml.asc', 'mutable'],
    ['almalinux/9/BaseOS/x86_64/os/repodata/repomd.xml.key', 'mutable'],
    ['repodata/repomd.xml', 'mutable'],
    // Unknown repository files are revalidated, never cached forever.
    ['almalinux/9/BaseOS/x86_64/os/.treeinfo', 'mutable'],
    ['almalinux/9/BaseOS/x86_64/os/repodata/primary.xml.gz', 'mutable'],
    ['almalinux/RPM-GPG-KEY-AlmaLinux-9', 'mutable'],
    ['almalinux/9/BaseOS/x86_64/os/images/install.img', 'mutable'],
  ],
  alpine: [
    ['alpine/v3.18/main/x86_64/musl-1.2.4-r2.apk', 'immutable'],
    ['alpine/edge/testing/aarch64/py3-foo-0.1-r0.apk', 'immutable'],
    ['alpine/v3.18/main/x86_64/APKINDEX.tar.gz', 'mutable'],
    ['alpine/edge/community/aarch64/APKINDEX.tar.gz', 'mutable'],
    ['v3.19/main/armv7/APKINDEX.tar.gz', 'mutable'],
    ['alpine/last-updated', 'mutable'],
    ['alpine/v3.18/releases/x86_64/latest-releases.yaml', 'mutable'],
  ],
  debian: [
    ['debian/pool/main/h/hello/hello_2.10-3_amd64.deb', 'immutable'],
    ['debian/pool/main/h/hello/hello_2.10-3.dsc', 'immutable'],
    ['debian/pool/main/h/hello/hello_2.10.orig.tar.gz', 'immutable'],
    ['pool/main/libr/libreoffice/libreoffice-core_7.4.7-1_amd64.deb', 'immutable'],
    [`debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/${SHA256}`, 'immutable'],
    [`ubuntu/dists/jammy/main/i18n/by-hash/MD5Sum/${SHA1.slice(0, 32)}`, 'immutable'],
    ['debian/dists/bookworm/InRelease', 'mutable'],
    ['debian/dists/bookworm/Release', 'mutable'],
    ['debian/dists/bookworm/Release.gpg', 'mutable'],
    ['debian/dists/bookworm/main/binary-amd64/Packages', 'mutable'],
    ['debian/dists/bookworm/main/binary-amd64/Packages.xz', 'mutable'],
    ['debian/dists/bookworm/main/binary-amd64/Packages.gz', 'mutable'],
    ['debian/dists/bookworm/main/binary-amd64/Release', 'mutable'],
    ['debian/dists/bookworm/main/source/Sources.xz', 'mutable'],
    ['debian/dists/bookworm/main/Contents-amd64.gz', 'mutable'],
    ['debian/dists/bookworm/main/i18n/Translation-en.bz2', 'mutable'],
    ['debian-security/dists/bookworm-security/InRelease', 'mutable'],
    // A flat repository keeps its index at the top.
    ['Packages.gz', 'mutable'],
    ['debian/dists/bookworm/main/dep11/Components-amd64.yml.gz', 'mutable'],
    ['debian/dists/bookworm/main/binary-amd64/Packages.diff/Index', 'mutable'],
    ['ubuntu/dists/jammy/main/cnf/Commands-amd64.xz', 'mutable'],
  ],
  generic: [
    ['tools/terraform/1.6.0/terraform_1.6.0_linux_amd64.zip', 'immutable'],
    ['releases/latest/index.html', 'immutable'],
    ['file', 'immutable'],
  ],
};

describe('package defaults', () => {
  describe.each(Object.keys(cases) as (keyof typeof cases)[])('%s', (pkg) => {
    const remote = remoteWithDefaults(pkg);

    it('uses the package defaults, not strict mode', () => {
      expect(remote.customPatterns).toBe(false);
    });

    it.each(cases[pkg])('%s is %s', (path, expected) => {
      expect(classifyPath(remote, path)).toBe(expected);
    });
  });

  it('every default pattern compiles', () => {
    for (const { immutable, mutable } of Object.values(PACKAGE_DEFAULTS)) {
      for (const source of [...immutable, ...mutable]) {
        expect(regexError(source)).toBeNull();
      }
    }
  });

  it('keeps docker lists empty: the registry protocol classifies docker paths', () => {
    expect(PACKAGE_DEFAULTS.docker).toEqual({ immutable: [], mutable: [] });
  });

  it('does not take a pool/ or by-hash/ lookalike segment for the real one', () => {
    const debian = remoteWithDefaults('debian');
    expect(classifyPath(debian, 'debian/notpool/main/h/hello/hello_2.10-3_amd64.deb')).toBe(
      'mutable',
    );
    expect(classifyPath(debian, 'debian/dists/bookworm/main/binary-amd64/ReleaseNotes')).toBe(
      'mutable',
    );
  });
});
