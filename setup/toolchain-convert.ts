// Debian .debs as the toolchain repository's APKs: each .deb read (dpkg-deb), moved to the usrmerge
// layout, its provides decided (setup/toolchain-debian.ts), its license and SBOM
// (setup/toolchain-origin.ts), its data member written and kept in a cache by the .deb's SHA-256
// (so another state directory, or a second setup, only signs again); then the repository's set:
// dependencies resolved within the closure, the bootstrap's names respected, and `build-base`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { execa } from 'execa';
import { apkData, type ApkData, type ApkFile, type WriteApkInput } from '../apk/writer.js';
import { compareApkVersions } from '../domain/apk-version.js';
import { sha256hex } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { atomName } from '../domain/plan.js';
import { tarEntries } from '../domain/tar.js';
import { writeFileAtomically } from '../io/atomic-file.js';
import { appletListing, busyboxFiles, usrmergeAppletPaths } from './bootstrap-repo.js';
import {
  apkDepends,
  apkProvides,
  apkVersion,
  closureIndex,
  debianPackage,
  linkableLibraries,
  usrmergeFiles,
  type DebEntry,
  type DebianArch,
  type DebianPackage,
} from './toolchain-debian.js';
import { elfSummary, type ElfSummary } from './toolchain-elf.js';
import { apkDescription, apkLicense, apkSbom, apkUrl } from './toolchain-origin.js';

/** Bump when the conversion changes what it writes: cached conversions and repositories are redone. */
export const TOOLCHAIN_FORMAT = 'kiln-toolchain/7';

/** The meta package a melange config names, as in a distribution: what `./configure && make` needs. */
export const BUILD_BASE = {
  name: 'build-base',
  version: '1-r0',
  // tar: melange's `fetch` extracts with bare `tar -x -f`, which needs GNU tar's compression detection.
  depends: ['binutils', 'coreutils', 'gcc', 'libc6-dev', 'make', 'tar'],
};
/** The bootstrap repository's layout package, which every converted package installs into. */
const BASELAYOUT = 'kiln-baselayout';
const MTIME = 0;

/** A .deb read into memory: its control fields and its data tar's entries (dpkg-deb unpacks it). */
export async function readDeb(path: string): Promise<{ pkg: DebianPackage; entries: DebEntry[] }> {
  const control = await execa('dpkg-deb', ['-f', path], { reject: false });
  if (control.exitCode !== 0) throw failure('CorruptArtifact', `${path}: not a readable .deb: ${control.stderr}`);
  // Streamed: gcc's data tar is 70 MB, and buffering it through execa doubles the time.
  const child = spawn('dpkg-deb', ['--fsys-tarfile', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => done(code));
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const entries: DebEntry[] = [];
  try {
    for await (const { header, body } of tarEntries(child.stdout as AsyncIterable<Buffer>, {
      what: path,
      wantBody: (h) => h.type === '0' || h.type === '7',
    })) {
      const type = ENTRY_TYPES[header.type];
      if (!type)
        throw failure(
          'CorruptArtifact',
          `${path}: ${header.path} is a tar entry of type ${header.type}, which kiln does not convert`,
        );
      entries.push({
        path: header.path,
        type,
        mode: header.mode,
        ...(type === 'file' ? { content: body ?? Buffer.alloc(0) } : {}),
        ...(type === 'symlink' ? { target: header.linkname } : {}),
      });
    }
  } catch (err) {
    child.kill(); // dpkg-deb would otherwise wait on a pipe nobody reads
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  if (code !== 0)
    throw failure('CorruptArtifact', `${path}: no readable data archive (dpkg-deb exit ${code}): ${stderr}`);
  return { pkg: debianPackage(control.stdout), entries };
}

/** Tar type flags a .deb's data may hold; hard links, devices and fifos are refused. */
const ENTRY_TYPES: Readonly<Record<string, DebEntry['type']>> = {
  '0': 'file',
  '7': 'file',
  '5': 'dir',
  '2': 'symlink',
};

/** What kiln keeps of one converted .deb beside its data member: everything but the bytes. */
export interface ConvertedDeb extends ElfSummary {
  /** The Debian control file. */
  control: string;
  provides: string[];
  license: string;
  /** Files and links, not directories: two packages installing one of them cannot both install. */
  paths: string[];
  /** Installed size, for `.PKGINFO`. */
  size: number;
  /** SHA-256 of the data member, checked when it is read back. */
  datahash: string;
}

/** gzip level of the data members: 6 is a third of level 9's time for 0.3% more bytes on gcc. */
const DATA_LEVEL = 6;

/**
 * One .deb as an APK data member and the facts about it, from the cache when an earlier setup
 * converted the same .deb (by SHA-256) in the same format; signing is left to the caller, so any
 * state directory's key reuses the conversion.
 */
export async function convertDeb(
  path: string,
  sha256: string,
  arch: DebianArch,
  cacheDir: string,
): Promise<{ deb: ConvertedDeb; data: ApkData }> {
  const json = join(cacheDir, `${sha256}.json`);
  const gz = join(cacheDir, `${sha256}.data.gz`);
  if (existsSync(json) && existsSync(gz)) {
    const deb = JSON.parse(await readFile(json, 'utf8')) as ConvertedDeb;
    const member = await readFile(gz);
    if (sha256hex(member) === deb.datahash) return { deb, data: { member, size: deb.size } };
  }
  const { pkg, entries } = await readDeb(path);
  const files = usrmergeFiles(pkg.name, entries);
  const busybox = pkg.name === 'busybox' ? await busyboxApplets(files, apkVersion(pkg.version)) : undefined;
  files.push(...(busybox?.files ?? []));
  const copyright = files.find((f) => f.path === `usr/share/doc/${pkg.name}/copyright`)?.content?.toString('utf8');
  const license = apkLicense(pkg, copyright);
  files.push({ ...apkSbom(pkg, license, arch), type: 'file', mode: 0o644 });
  const data = apkData(files, MTIME, DATA_LEVEL);
  const deb: ConvertedDeb = {
    control: [...pkg.control].map(([k, v]) => `${k}: ${v.replace(/\n/g, '\n ')}`).join('\n') + '\n',
    provides: [...new Set([...apkProvides(pkg, files, arch), ...(busybox?.provides ?? [])])].sort(),
    license,
    paths: files.filter((f) => f.type !== 'dir').map((f) => f.path),
    size: data.size,
    datahash: sha256hex(data.member),
    ...elfSummary(files),
  };
  await mkdir(cacheDir, { recursive: true });
  // Data first, record last, each renamed into place: a record always has its data beside it.
  await writeFileAtomically(gz, data.member);
  await writeFileAtomically(json, JSON.stringify(deb) + '\n');
  return { deb, data };
}

/**
 * Debian's dynamic busybox ships the binary alone (nothing makes its applet links): the /bin/sh link
 * and the applet list apko links from, as the bootstrap's busybox has, and a `cmd:` per applet.
 * Unlike busybox-static, which the bootstrap repackages, this build runs a program found on PATH
 * before its own applet of that name, so GNU tar, wget and coreutils in a build guest are the ones
 * melange's pipelines get (the static build's `wget` crashes on the `fetch` pipeline's flags).
 */
async function busyboxApplets(files: ApkFile[], version: string): Promise<{ files: ApkFile[]; provides: string[] }> {
  const binary = files.find((f) => f.path === 'usr/bin/busybox' && f.type === 'file')?.content;
  if (!binary) throw failure('CorruptArtifact', "Debian's busybox package holds no bin/busybox");
  const applets = usrmergeAppletPaths(await appletListing(binary));
  return {
    files: busyboxFiles(binary, applets).filter((f) => f.path !== 'usr/bin/busybox'),
    provides: ['sh', ...applets.map((p) => posix.basename(p))].map((c) => `cmd:${c}=${version}`),
  };
}

/**
 * Where converted .debs are kept: `<kiln apt dir>/apks/<format>/<arch>/`. Conversions of other
 * formats are removed (nothing reads them again).
 */
export async function conversionCache(aptDir: string, arch: DebianArch): Promise<string> {
  const root = join(aptDir, 'apks');
  const format = TOOLCHAIN_FORMAT.replace(/\W+/g, '-');
  await mkdir(join(root, format, arch.apk), { recursive: true });
  for (const name of await readdir(root))
    if (name !== format) await rm(join(root, name), { recursive: true, force: true });
  return join(root, format, arch.apk);
}

/** Every .deb converted (or taken from the cache), two at a time. */
export async function convertDebs(
  debs: { path: string; sha256: string }[],
  arch: DebianArch,
  cacheDir: string,
): Promise<{ deb: ConvertedDeb; data: ApkData }[]> {
  return pool(debs, 2, (d) => convertDeb(d.path, d.sha256, arch, cacheDir));
}

/** Runs `task` over `items`, `limit` at a time (dpkg-deb's xz runs beside the gzip of another). */
async function pool<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface ToolchainApk {
  apk: Omit<WriteApkInput, 'files'>;
  data: ApkData;
  deb?: ConvertedDeb;
}

/** `version`, or when that does not sort above `other`, `other` with its release one higher. */
export function supersedingVersion(version: string, other: string): string {
  if (compareApkVersions(version, other) > 0) return version;
  const m = /^(.*)-r(\d+)$/.exec(other)!;
  return `${m[1]}-r${Number(m[2]) + 1}`;
}

/** The APKs of a converted closure (dependencies resolved within it) and `build-base`. */
export function toolchainApks(
  converted: { deb: ConvertedDeb; data: ApkData }[],
  arch: DebianArch,
  signingKeyPath: string,
  /**
   * Names the bootstrap repository provides. apk refuses two packages providing one name at
   * different versions, and the bootstrap busybox provides a `cmd:` for each applet (`cmd:ar`,
   * `cmd:wget`, `cmd:strings`): the real tool keeps its file (apko makes an applet link only
   * where no file is) and leaves the name to busybox, so both install together.
   */
  reserved: ReadonlySet<string> = new Set(),
  /**
   * Versions of the bootstrap repository's packages. A converted package of the same name
   * (busybox) supersedes the bootstrap's: it gets a version above it, so the solver prefers it
   * wherever the toolchain repository is listed, and it keeps the names it provides.
   */
  bootstrapVersions: ReadonlyMap<string, string> = new Map(),
): ToolchainApk[] {
  const packages = converted.map((c) => debianPackage(c.deb.control));
  const closure = closureIndex(packages);
  const linkable = linkableLibraries(packages, closure);
  const apks: ToolchainApk[] = converted.map(({ deb, data }, i) => {
    const pkg = packages[i]!;
    const own = apkVersion(pkg.version);
    const bootstrap = bootstrapVersions.get(pkg.name);
    const version = bootstrap ? supersedingVersion(own, bootstrap) : own;
    const provides = (
      bootstrap
        ? deb.provides.map((p) => (p.endsWith(`=${own}`) ? `${p.slice(0, -own.length)}${version}` : p))
        : deb.provides.filter((p) => !reserved.has(atomName(p)))
    ).filter((p) => linkable.has(pkg.name) || !/^so(-ver)?:/.test(p));
    return {
      deb,
      data,
      apk: {
        name: pkg.name,
        version,
        arch: arch.apk,
        description: apkDescription(pkg),
        url: apkUrl(pkg),
        license: deb.license,
        origin: pkg.source,
        depends: [BASELAYOUT, ...apkDepends(pkg, closure)],
        provides,
        signingKeyPath,
        mtime: MTIME,
      },
    };
  });
  for (const dep of BUILD_BASE.depends)
    if (!closure.has(dep)) throw failure('ToolFailed', `build-base needs ${dep}, which the resolved closure lacks`);
  apks.push({
    data: apkData([], MTIME),
    apk: {
      name: BUILD_BASE.name,
      version: BUILD_BASE.version,
      arch: arch.apk,
      description: 'kiln: what a C build needs (gcc, binutils, make, coreutils, tar, the C library headers)',
      url: 'https://gcc.gnu.org',
      license: 'CC0-1.0',
      origin: BUILD_BASE.name,
      depends: BUILD_BASE.depends.map((d) => closure.get(d)!),
      signingKeyPath,
      mtime: MTIME,
    },
  });
  return apks;
}

/** Two packages owning one file (not a directory) would make apk refuse to install both. */
export function assertNoSharedPaths(apks: ToolchainApk[]): void {
  const owner = new Map<string, string>();
  for (const a of apks)
    for (const path of a.deb?.paths ?? []) {
      const prior = owner.get(path);
      if (prior) throw failure('ToolFailed', `${prior} and ${a.apk.name} both install ${path}`);
      owner.set(path, a.apk.name);
    }
}
