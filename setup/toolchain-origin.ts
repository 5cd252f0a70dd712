// What a converted toolchain APK says of its Debian origin, pure: its license in SPDX terms (a table
// for the sources whose copyright file does not say it in DEP-5 short names, else the `Files: *`
// paragraph), the SPDX document apko lists it by in an image's SBOM, its description and homepage.
// setup/toolchain-convert.ts puts them in the APK.
import { upstreamVersion } from './bootstrap-repo.js';
import { parseControl, type DebianArch, type DebianPackage } from './toolchain-debian.js';

/** Debian's short license names (DEP-5) as SPDX identifiers, by lower-cased name. */
const DEP5_TO_SPDX: ReadonlyMap<string, string> = new Map(
  Object.entries({
    'GPL-2': 'GPL-2.0-only',
    'GPL-2+': 'GPL-2.0-or-later',
    'GPL-3': 'GPL-3.0-only',
    'GPL-3+': 'GPL-3.0-or-later',
    'LGPL-2': 'LGPL-2.0-only',
    'LGPL-2+': 'LGPL-2.0-or-later',
    'LGPL-2.1': 'LGPL-2.1-only',
    'LGPL-2.1+': 'LGPL-2.1-or-later',
    'LGPL-3': 'LGPL-3.0-only',
    'LGPL-3+': 'LGPL-3.0-or-later',
    Expat: 'MIT',
    MIT: 'MIT',
    Zlib: 'Zlib',
    'BSD-2-clause': 'BSD-2-Clause',
    'BSD-3-clause': 'BSD-3-Clause',
    'Apache-2.0': 'Apache-2.0',
    ISC: 'ISC',
  }).map(([k, v]) => [k.toLowerCase(), v]),
);

/**
 * Licenses of the source packages whose copyright file is not machine-readable or whose `Files: *`
 * paragraph does not say it in DEP-5 short names, read from their Debian copyright files.
 */
export const SOURCE_LICENSES: Readonly<Record<string, string>> = {
  glibc: 'LGPL-2.1-or-later',
  'gcc-12': 'GPL-3.0-or-later WITH GCC-exception-3.1',
  'gcc-defaults': 'GPL-3.0-or-later',
  binutils: 'GPL-3.0-or-later',
  linux: 'GPL-2.0-only WITH Linux-syscall-note',
  busybox: 'GPL-2.0-only',
  wget: 'GPL-3.0-or-later',
  gmp: 'LGPL-3.0-or-later OR GPL-2.0-or-later',
  mpclib3: 'LGPL-3.0-or-later',
  mpfr4: 'LGPL-3.0-or-later',
  nettle: 'LGPL-3.0-or-later OR GPL-2.0-or-later',
  gnutls28: 'LGPL-2.1-or-later',
  libidn2: 'LGPL-3.0-or-later OR GPL-2.0-or-later',
  libunistring: 'LGPL-3.0-or-later OR GPL-2.0-or-later',
  'libtasn1-6': 'LGPL-2.1-or-later',
  libnsl: 'LGPL-2.1-or-later',
  pcre2: 'BSD-3-Clause WITH PCRE2-exception',
  openssl: 'Apache-2.0',
  krb5: 'MIT',
  e2fsprogs: 'MIT',
  'util-linux': 'BSD-3-Clause',
  libzstd: 'BSD-3-Clause OR GPL-2.0-only',
  libxcrypt: 'LGPL-2.1-or-later',
  libselinux: 'LicenseRef-Public-Domain',
  'rpcsvc-proto': 'BSD-3-Clause',
};

/** A DEP-5 copyright file, by its Format URL (the released one, or the draft's). */
const DEP5 =
  /^Format:\s*https?:\/\/(www\.)?(debian\.org\/doc\/packaging-manuals\/copyright-format|dep\.debian\.net\/deps\/dep5)/m;

/**
 * The package's license: the source table above, else the `License:` of the `Files: *` paragraph of
 * a DEP-5 copyright file mapped to SPDX, else a LicenseRef naming the Debian source.
 */
export function apkLicense(pkg: DebianPackage, copyright: string | undefined): string {
  const known = SOURCE_LICENSES[pkg.source];
  if (known) return known;
  if (copyright && DEP5.test(copyright)) {
    for (const paragraph of copyright.split(/\n\s*\n/)) {
      const fields = parseControl(paragraph);
      if (!fields.get('Files')?.split(/\s+/).includes('*')) continue;
      const names =
        fields
          .get('License')
          ?.split('\n')[0]
          ?.trim()
          .split(/\s+or\s+/i) ?? [];
      const spdx = names.map((l) => DEP5_TO_SPDX.get(l.toLowerCase()));
      if (names.length && spdx.every((l) => l !== undefined)) return spdx.join(' OR ');
      break;
    }
  }
  return `LicenseRef-Debian-${pkg.source}`;
}

/**
 * The SPDX document apko reads from `/var/lib/db/sbom/` to list an installed package in an image's
 * SBOM (it lists only packages that carry one, as melange's do): the Debian package, its exact
 * version, license and a `pkg:deb` purl. Deterministic: fixed creation time and namespace.
 */
export function apkSbom(pkg: DebianPackage, license: string, arch: DebianArch): { path: string; content: Buffer } {
  const id = `SPDXRef-Package-${pkg.name.replace(/[^A-Za-z0-9.-]/g, '-')}`;
  const purl = `pkg:deb/debian/${pkg.name}@${encodeURIComponent(pkg.version)}?arch=${arch.deb}`;
  const doc = {
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `apk-${pkg.name}-${pkg.version}`,
    spdxVersion: 'SPDX-2.3',
    creationInfo: {
      created: '1970-01-01T00:00:00Z',
      creators: ['Tool: kiln (setup/toolchain)'],
      licenseListVersion: '3.22',
    },
    dataLicense: 'CC0-1.0',
    documentNamespace: `https://kiln.dev/spdx/debian/${arch.deb}/${pkg.name}/${encodeURIComponent(pkg.version)}`,
    documentDescribes: [id],
    packages: [
      {
        SPDXID: id,
        name: pkg.name,
        versionInfo: pkg.version,
        filesAnalyzed: false,
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: license,
        downloadLocation: apkUrl(pkg),
        originator: 'Organization: Debian',
        supplier: 'Organization: Debian',
        copyrightText: `see /usr/share/doc/${pkg.name}/copyright`,
        sourceInfo: `Debian source package ${pkg.source}`,
        externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceLocator: purl, referenceType: 'purl' }],
      },
    ],
  };
  // apko looks for <name>-<version without -rN>.spdx.json among others: valid whatever release the APK gets.
  return {
    path: `var/lib/db/sbom/${pkg.name}-${upstreamVersion(pkg.version)}.spdx.json`,
    content: Buffer.from(JSON.stringify(doc, null, 2) + '\n'),
  };
}

/** The first line of the Debian description, and where it came from. */
export function apkDescription(pkg: DebianPackage): string {
  const summary = (pkg.control.get('Description') ?? pkg.name).split('\n')[0]!.trim();
  return `${summary} (Debian ${pkg.name} ${pkg.version})`;
}

export function apkUrl(pkg: DebianPackage): string {
  return pkg.control.get('Homepage') ?? `https://tracker.debian.org/pkg/${pkg.source}`;
}
