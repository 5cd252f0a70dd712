// Debian binary packages as APKs, pure: control fields, relations, the usrmerge layout, provides,
// dependencies and licenses of one .deb, given the files it holds and the rest of its closure.
// setup/toolchain.ts reads the .debs and writes the APKs; everything here is decided from bytes.
//
// The layout: Debian 12 keeps its multiarch paths (/usr/lib/x86_64-linux-gnu, which gcc, ld and
// ld.so search), but what Debian puts under /lib, /bin, /sbin and /usr/sbin moves under /usr, as
// melange's usrmerge rule wants; the bootstrap baselayout's /lib -> usr/lib and /bin -> usr/bin
// links keep the old paths (the ELF interpreter, libc.so's linker script) working.
import { posix } from 'node:path';
import type { ApkFile } from '../apk/writer.js';
import { invalidInput } from '../domain/failures.js';
import { upstreamVersion } from './bootstrap-repo.js';
import { readElfDynamic, sonameVersion } from './toolchain-elf.js';

/** How one APK architecture is named on the Debian side. */
export interface DebianArch {
  apk: string;
  /** dpkg's name: `apt-get download foo:arm64`. */
  deb: string;
  /** The multiarch triplet of /usr/lib/<triplet>. */
  triplet: string;
}

export const DEBIAN_ARCHS: Readonly<Record<string, DebianArch>> = {
  x86_64: { apk: 'x86_64', deb: 'amd64', triplet: 'x86_64-linux-gnu' },
  aarch64: { apk: 'aarch64', deb: 'arm64', triplet: 'aarch64-linux-gnu' },
};

export function debianArch(apkArch: string): DebianArch {
  const arch = DEBIAN_ARCHS[apkArch];
  if (!arch)
    throw invalidInput(
      `no Debian architecture for APK arch ${apkArch} (fix: choose one of ${Object.keys(DEBIAN_ARCHS).join(', ')})`,
    );
  return arch;
}

/** One paragraph of a Debian control file: field names as written, continuation lines joined by \n. */
export function parseControl(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      if (fields.size) break;
      continue;
    }
    if (/^[ \t]/.test(line) && last) {
      fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      continue;
    }
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$/.exec(line);
    if (!m) throw invalidInput(`not a Debian control line: ${JSON.stringify(line)}`);
    last = m[1]!;
    fields.set(last, m[2]!.trim());
  }
  return fields;
}

export interface DebRelation {
  name: string;
  /** `:any`, `:native` or an architecture, when the relation names one. */
  archQualifier?: string;
  /** `>=`, `<<`, `=`, ...; with version. */
  op?: string;
  version?: string;
}

/** `a (>= 1) | b, c:any` -> [[a >= 1, b], [c]]. Architecture restrictions (`[amd64]`) are kept out. */
export function parseRelations(field: string | undefined): DebRelation[][] {
  if (!field?.trim()) return [];
  return field.split(',').map((group) =>
    group.split('|').map((alt) => {
      const m = /^\s*([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?/.exec(alt);
      if (!m) throw invalidInput(`not a Debian relation: ${JSON.stringify(alt.trim())}`);
      return {
        name: m[1]!,
        ...(m[2] ? { archQualifier: m[2] } : {}),
        ...(m[3] ? { op: m[3], version: m[4]! } : {}),
      };
    }),
  );
}

/**
 * The APK version of a Debian version. The release is 0: a repository holds one build per name,
 * made from one resolved set of .debs, and the exact Debian version is in the description.
 */
export const apkVersion = (debian: string) => `${upstreamVersion(debian)}-r0`;

/** Debian top-level directories and where they live under usrmerge. */
const USRMERGE: readonly (readonly [string, string])[] = [
  ['bin', 'usr/bin'],
  ['sbin', 'usr/bin'],
  ['usr/sbin', 'usr/bin'],
  ['lib', 'usr/lib'],
  ['lib64', 'usr/lib64'],
  ['lib32', 'usr/lib32'],
  ['libx32', 'usr/libx32'],
];
/** Top-level links the baselayout does not make; a package with files there brings its own. */
const COMPAT_LINKS: Readonly<Record<string, string>> = { lib64: 'usr/lib64', lib32: 'usr/lib32', libx32: 'usr/libx32' };

/** A Debian path (`./lib/x/y`) as installed under usrmerge (`usr/lib/x/y`); no leading slash. */
export function usrmergePath(path: string): string {
  const p = posix.normalize(`/${path}`).slice(1);
  for (const [from, to] of USRMERGE) {
    if (p === from) return to;
    if (p.startsWith(`${from}/`)) return `${to}${p.slice(from.length)}`;
  }
  return p;
}

/**
 * A symlink's target after the move: absolute targets are moved like paths; relative ones are
 * resolved where the link was, moved, and made relative again from where the link is now.
 */
export function usrmergeTarget(linkPath: string, target: string): string {
  if (target.startsWith('/')) return `/${usrmergePath(target)}`;
  const resolved = usrmergePath(posix.join(posix.dirname(posix.normalize(`/${linkPath}`)), target));
  return posix.relative(posix.dirname(`/${usrmergePath(linkPath)}`), `/${resolved}`) || '.';
}

/** Documentation a build never reads; each package keeps its copyright file. */
const DROPPED = ['usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian', 'usr/share/bug'];

export function keptPath(path: string): boolean {
  if (DROPPED.some((d) => path === d || path.startsWith(`${d}/`))) return false;
  if (path.startsWith('usr/share/doc/')) return /^usr\/share\/doc\/[^/]+\/copyright$/.test(path);
  return true;
}

/**
 * What Debian's maintainer scripts would have made with update-alternatives (`cc` is not in any
 * package's files): the links a distribution's toolchain has, added to the package that owns the
 * alternative's target.
 */
export const ALTERNATIVES: Readonly<Record<string, readonly (readonly [link: string, target: string])[]>> = {
  gcc: [
    ['usr/bin/cc', 'gcc'],
    ['usr/bin/c89', 'c89-gcc'],
    ['usr/bin/c99', 'c99-gcc'],
  ],
};

export interface DebEntry {
  /** As in the data tar: `./usr/bin/gcc-12`. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  content?: Buffer;
  target?: string;
}

/**
 * A package's files as the APK installs them: moved under /usr, documentation left out, the
 * compat link for lib64 and the alternatives added. Two entries landing on one path are an error,
 * unless both are directories.
 */
export function usrmergeFiles(debName: string, entries: DebEntry[]): ApkFile[] {
  const out = new Map<string, ApkFile>();
  const add = (f: ApkFile) => {
    const prior = out.get(f.path);
    if (prior) {
      if (prior.type === 'dir' && f.type === 'dir') return;
      throw invalidInput(`${debName}: two entries land on ${f.path} under usrmerge`);
    }
    out.set(f.path, f);
  };
  const topLevels = new Set<string>();
  for (const e of entries) {
    const original = posix.normalize(`/${e.path}`).slice(1).replace(/\/+$/, '');
    if (!original) continue;
    const path = usrmergePath(original);
    if (!keptPath(path)) continue;
    const top = original.split('/')[0]!;
    if (COMPAT_LINKS[top] && original !== top) topLevels.add(top);
    const mode = e.mode & 0o7777;
    if (e.type === 'dir') add({ path, type: 'dir', mode });
    else if (e.type === 'symlink')
      add({ path, type: 'symlink', mode: 0o777, target: usrmergeTarget(original, e.target!) });
    else add({ path, type: 'file', mode, content: e.content ?? Buffer.alloc(0) });
  }
  for (const top of topLevels) add({ path: top, type: 'symlink', mode: 0o777, target: COMPAT_LINKS[top]! });
  for (const [link, target] of ALTERNATIVES[debName] ?? []) {
    if (!out.has(link) && out.has(posix.join(posix.dirname(link), target)))
      add({ path: link, type: 'symlink', mode: 0o777, target });
  }
  // apk and apko create parents before children; keep the data tar in path order.
  return [...out.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** The directories the dynamic loader and the link editor search: where a soname is provided from. */
export function libraryDirs(arch: DebianArch): string[] {
  return ['usr/lib', `usr/lib/${arch.triplet}`, 'usr/lib64'];
}

export interface DebianPackage {
  name: string;
  /** The Debian version, epoch and revision included. */
  version: string;
  /** The source package (Source: without its version), else the package name. */
  source: string;
  control: Map<string, string>;
}

export function debianPackage(controlText: string): DebianPackage {
  const control = parseControl(controlText);
  const name = control.get('Package');
  const version = control.get('Version');
  if (!name || !version) throw invalidInput('a Debian control file without Package or Version');
  const source = (control.get('Source') ?? name).split(/\s/)[0]!;
  return { name, version, source, control };
}

/**
 * `cmd:` for everything in /usr/bin (files with an execute bit, and links), `so:` and `so-ver:` as
 * melange writes them for every ELF shared object with a soname in a library directory, and the
 * package's Debian `Provides` (virtual names like `libc-dev`).
 */
export function apkProvides(pkg: DebianPackage, files: ApkFile[], arch: DebianArch): string[] {
  const version = apkVersion(pkg.version);
  const provides = new Set<string>();
  const libDirs = new Set(libraryDirs(arch));
  for (const f of files) {
    const dir = posix.dirname(f.path);
    if (dir === 'usr/bin' && (f.type === 'symlink' || (f.type === 'file' && f.mode & 0o111)))
      provides.add(`cmd:${posix.basename(f.path)}=${version}`);
    if (f.type !== 'file' || !libDirs.has(dir) || !f.content) continue;
    const elf = readElfDynamic(f.content);
    const base = posix.basename(f.path);
    // An executable is not a library, except the ones that are both (libc.so.6 runs as a program).
    if (!elf?.soname || (elf.interpreter && !/\.so(\.|$)/.test(base))) continue;
    provides.add(`so:${elf.soname}=${sonameVersion(elf.soname)}`);
    provides.add(`so-ver:${elf.soname}=${version}`);
  }
  // Unversioned: apk lets two packages provide one virtual name (gcc and gcc-12 both provide
  // c-compiler) only when neither gives it a version.
  for (const group of parseRelations(pkg.control.get('Provides'))) {
    for (const p of group) if (p.name !== pkg.name) provides.add(p.name);
  }
  return [...provides].sort();
}

/** What each name in a closure resolves to: packages by their own name, then by what they provide. */
export function closureIndex(packages: DebianPackage[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const p of packages) index.set(p.name, p.name);
  for (const p of [...packages].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const group of parseRelations(p.control.get('Provides')))
      for (const v of group) if (!index.has(v.name)) index.set(v.name, p.name);
  }
  return index;
}

/**
 * The APK dependencies of a package: for each Pre-Depends and Depends clause, the first
 * alternative the closure holds, by name (versions are dropped: the repository holds exactly the
 * versions apt resolved together). A clause nothing in the closure satisfies is an error, naming it.
 */
export function apkDepends(pkg: DebianPackage, closure: Map<string, string>): string[] {
  const depends = new Set<string>();
  const relations = [...parseRelations(pkg.control.get('Pre-Depends')), ...parseRelations(pkg.control.get('Depends'))];
  for (const group of relations) {
    const chosen = group.map((r) => closure.get(r.name)).find((n) => n !== undefined);
    if (!chosen) {
      const wanted = group.map((r) => `${r.name}${r.op ? ` (${r.op} ${r.version})` : ''}`).join(' | ');
      throw invalidInput(`${pkg.name} ${pkg.version} depends on ${wanted}, which the resolved closure does not hold`);
    }
    if (chosen !== pkg.name) depends.add(chosen);
  }
  return [...depends].sort();
}

/**
 * The packages whose sonames the repository provides: the libraries a build can link against,
 * those a `-dev` package of the closure depends on (libc6, libgcc-s1, libcrypt1, ...). The others
 * (zlib1g, libzstd1, libssl3, ...) are the tools' private runtime, installed by name: they leave
 * `so:libz.so.1` to the zlib a catalog builds, which apk would not install beside a second
 * package providing the same soname (a build guest with gcc has both).
 */
export function linkableLibraries(packages: DebianPackage[], closure: Map<string, string>): Set<string> {
  const linkable = new Set<string>();
  for (const p of packages) {
    if (!p.name.endsWith('-dev')) continue;
    for (const dep of apkDepends(p, closure)) linkable.add(dep);
  }
  return linkable;
}

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

/** The ELF facts of a package's files that the repository-wide checks need. */
export interface ElfSummary {
  /** Every soname an ELF file of the package declares, wherever it lies (a private plugin's too). */
  sonames: string[];
  /** Every DT_NEEDED of the package's ELF files. */
  needed: { path: string; soname: string }[];
}

export function elfSummary(files: ApkFile[]): ElfSummary {
  const sonames = new Set<string>();
  const needed: { path: string; soname: string }[] = [];
  for (const f of files) {
    if (f.type !== 'file' || !f.content) continue;
    const elf = readElfDynamic(f.content);
    if (elf?.soname) sonames.add(elf.soname);
    for (const soname of elf?.needed ?? []) needed.push({ path: f.path, soname });
  }
  return { sonames: [...sonames].sort(), needed };
}

/**
 * Sonames an ELF file of the repository needs that no file of it declares: a closure that links
 * against a library it does not ship.
 */
export function missingSonames(
  packages: ({ name: string } & ElfSummary)[],
): { package: string; path: string; soname: string }[] {
  const declared = new Set(packages.flatMap((p) => p.sonames));
  return packages.flatMap((p) =>
    p.needed.filter((n) => !declared.has(n.soname)).map((n) => ({ package: p.name, ...n })),
  );
}
