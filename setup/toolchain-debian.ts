// Debian binary packages as APKs, pure: control fields, relations, the usrmerge layout, provides
// and dependencies of one .deb, given the files it holds and the rest of its closure (its license
// and SBOM: setup/toolchain-origin.ts; ELF facts: setup/toolchain-elf.ts). setup/toolchain.ts
// reads the .debs and writes the APKs; everything here is decided from bytes.
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
