// kiln's own apt: the machine's Debian mirror (taken from its apt sources), with deb-src beside
// every deb entry and every architecture kiln builds for, in a directory of kiln's (under the
// tools cache), with an empty dpkg status. The machine's apt configuration and package state are
// never touched: the closure of `gcc make libc6-dev` comes out whole whatever the host has
// installed, arm64 resolves without `dpkg --add-architecture`, and no root is needed to read.
//
// Every apt invocation of kiln is in this file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { sha256hex } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { writeFileAtomically } from '../io/atomic-file.js';
import { parseControl, type DebianArch } from './toolchain-debian.js';

/** One `deb` entry of the machine's apt sources. */
export interface AptSource {
  uri: string;
  suite: string;
  components: string[];
  signedBy?: string;
}

/** `deb [signed-by=/k.gpg] http://deb.debian.org/debian bookworm main` lines of a sources.list. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    out.push({
      uri: m[2]!,
      suite: m[3]!,
      components: m[4]!.split(/\s+/).filter(Boolean),
      ...(signedBy ? { signedBy } : {}),
    });
  }
  return out;
}

/** The `Types: deb` paragraphs of a deb822 .sources file, one entry per URI and suite. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  const paragraphs = text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .split(/\n\s*\n/);
  for (const paragraph of paragraphs) {
    if (!paragraph.trim()) continue;
    const f = parseControl(paragraph);
    const words = (k: string) => (f.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!words('Types').includes('deb') || f.get('Enabled')?.toLowerCase() === 'no') continue;
    const signedBy = f.get('Signed-By');
    for (const uri of words('URIs'))
      for (const suite of words('Suites'))
        out.push({ uri, suite, components: words('Components'), ...(signedBy ? { signedBy } : {}) });
  }
  return out;
}

/**
 * The Debian archive entries among the machine's sources: those signed by Debian's archive keyring
 * or served from a `/debian` path. Other vendors' repositories stay out (they rarely publish
 * deb-src or arm64, and nothing kiln converts comes from them).
 */
export function debianSources(sources: AptSource[]): AptSource[] {
  const seen = new Set<string>();
  return sources.filter((s) => {
    const debian = s.signedBy?.includes('debian-archive-keyring') || /\/debian(-security)?\/?$/.test(s.uri);
    const key = `${s.uri} ${s.suite}`;
    if (!debian || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Source indexes kiln reads beside a release's own: the next release's, for upstream versions
 * the machine's release does not carry (pigz 2.8 is in trixie; bookworm's 2.6 tarball is not on
 * this mirror). Only deb-src: binary packages always come from the machine's release.
 */
export const LATER_SOURCE_SUITES: Readonly<Record<string, readonly string[]>> = { bookworm: ['trixie'] };

/** kiln's sources.list: each entry as deb for the given architectures and as deb-src. */
export function renderSources(sources: AptSource[], debArchs: string[], keyFile: (s: AptSource) => string | undefined) {
  const lines: string[] = [];
  for (const s of sources) {
    const key = keyFile(s);
    const signed = key ? ` signed-by=${key}` : '';
    const src = key ? `[${signed.trim()}] ` : '';
    const tail = (suite: string) => `${s.uri} ${suite} ${s.components.join(' ')}`;
    lines.push(`deb [arch=${debArchs.join(',')}${signed}] ${tail(s.suite)}`, `deb-src ${src}${tail(s.suite)}`);
    for (const later of LATER_SOURCE_SUITES[s.suite] ?? []) lines.push(`deb-src ${src}${tail(later)}`);
  }
  return lines.join('\n') + '\n';
}

export interface KilnApt {
  dir: string;
  /** `-o` options that make apt-get use kiln's directory and nothing of the machine's state. */
  options: string[];
  /** Identifies the package lists apt read: changes only when `apt-get update` fetched new ones. */
  listsDigest: string;
}

/** Reads the machine's sources (sources.list, sources.list.d/*.list and *.sources). */
function systemSources(etc = '/etc/apt'): AptSource[] {
  const sources: AptSource[] = [];
  const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
  sources.push(...parseOneLineSources(read(join(etc, 'sources.list'))));
  const parts = join(etc, 'sources.list.d');
  for (const name of existsSync(parts) ? readdirSync(parts).sort() : []) {
    if (name.endsWith('.list')) sources.push(...parseOneLineSources(read(join(parts, name))));
    else if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(read(join(parts, name))));
  }
  return debianSources(sources);
}

const DEB_ARCHS = ['amd64', 'arm64'];

function optionsFor(dir: string, arch?: DebianArch): string[] {
  const o = (k: string, v: string) => ['-o', `${k}=${v}`];
  return [
    ...o('Dir::Etc::SourceList', join(dir, 'sources.list')),
    ...o('Dir::Etc::SourceParts', join(dir, 'sources.list.d')),
    ...o('Dir::Etc::Preferences', join(dir, 'preferences')),
    ...o('Dir::Etc::PreferencesParts', join(dir, 'preferences.d')),
    ...o('Dir::State', join(dir, 'state')),
    ...o('Dir::State::Lists', join(dir, 'lists')),
    ...o('Dir::State::status', join(dir, 'state', 'status')),
    ...o('Dir::Cache', join(dir, 'cache')),
    ...o('Acquire::Languages', 'none'),
    ...o('APT::Install-Recommends', 'false'),
    ...o('APT::Architecture', arch?.deb ?? 'amd64'),
    // `APT::Architectures::=x` appends to the list; the first clears the machine's.
    ...o('APT::Architectures', ''),
    ...DEB_ARCHS.flatMap((a) => o('APT::Architectures::', a)),
    // As root, apt drops to `_apt` to download, which cannot write into kiln's cache directory.
    ...(process.getuid?.() === 0 ? o('APT::Sandbox::User', 'root') : []),
  ];
}

async function apt(args: string[], what: string, cwd?: string): Promise<string> {
  const r = await execa('apt-get', args, { all: true, reject: false, ...(cwd ? { cwd } : {}) });
  if (r.exitCode !== 0) {
    throw failure(
      'ToolFailed',
      `apt-get ${what} failed (exit ${r.exitCode}):\n${(r.all ?? '').split('\n').slice(-15).join('\n')}\n` +
        'Check that the Debian mirror in /etc/apt/sources.list(.d) is reachable.',
    );
  }
  return r.stdout;
}

async function listsDigest(lists: string): Promise<string> {
  const releases = (await readdir(lists)).filter((f) => /_(In)?Release$/.test(f)).sort();
  const parts = await Promise.all(releases.map(async (f) => `${f}\n${sha256hex(await readFile(join(lists, f)))}`));
  return sha256hex(parts.join('\n'));
}

/**
 * kiln's apt directory (`<toolsDir>/debian`), its package lists fetched when missing or when the
 * machine's sources changed. `refresh` fetches them again (new security updates, then new APKs).
 */
export async function kilnApt(
  toolsDir: string,
  o: { refresh?: boolean; log?: (s: string) => void } = {},
): Promise<KilnApt> {
  const log = o.log ?? console.log;
  const dir = join(toolsDir, 'debian');
  const sources = systemSources();
  if (!sources.length)
    throw failure(
      'ToolMissing',
      'no Debian archive in /etc/apt/sources.list or /etc/apt/sources.list.d/: kiln converts Debian packages ' +
        'into its toolchain and needs a reachable Debian mirror (add one, e.g. http://deb.debian.org/debian bookworm main)',
    );
  for (const d of ['sources.list.d', 'preferences.d', 'state', 'lists/partial', 'cache/archives/partial', 'keys'])
    await mkdir(join(dir, d), { recursive: true });
  if (!existsSync(join(dir, 'state', 'status'))) await writeFile(join(dir, 'state', 'status'), '');
  // Inline Signed-By keys (deb822 allows a key block) go to files of their own.
  const keyFile = (s: AptSource) => {
    if (!s.signedBy?.includes('\n')) return s.signedBy;
    return join(dir, 'keys', `${sha256hex(s.signedBy).slice(0, 16)}.asc`);
  };
  for (const s of sources) {
    if (s.signedBy?.includes('\n')) {
      const key = s.signedBy
        .split('\n')
        .map((l) => (l.trim() === '.' ? '' : l.trim()))
        .join('\n');
      await writeFile(keyFile(s)!, key + '\n');
    }
  }
  const list = renderSources(sources, DEB_ARCHS, keyFile);
  const listFile = join(dir, 'sources.list');
  const changed = !existsSync(listFile) || readFileSync(listFile, 'utf8') !== list;
  const lists = join(dir, 'lists');
  const fetched = (await readdir(lists)).some((f) => f.endsWith('Packages') || f.includes('Packages.'));
  if (changed) await writeFile(listFile, list);
  if (changed || !fetched || o.refresh) {
    log(`    Debian package lists for ${DEB_ARCHS.join(', ')} and sources into ${lists}`);
    await apt([...optionsFor(dir), 'update'], 'update');
  }
  return { dir, options: optionsFor(dir), listsDigest: await listsDigest(lists) };
}

export interface ResolvedDeb {
  name: string;
  /** Debian version, epoch included. */
  version: string;
  /** The .deb's file name in the archive (`libc6_2.36-9+deb12u14_amd64.deb`). */
  file: string;
  sha256: string;
}

/**
 * The whole dependency closure of `roots` for one architecture, as apt resolves it with nothing
 * installed (Depends and Pre-Depends, no Recommends). Kept in `<dir>/closures/` by roots, arch and
 * package lists: resolving reads every list (seconds), and the same lists give the same closure.
 */
export async function resolveClosure(k: KilnApt, arch: DebianArch, roots: string[]): Promise<ResolvedDeb[]> {
  const key = sha256hex(JSON.stringify({ roots, arch: arch.deb, lists: k.listsDigest })).slice(0, 32);
  const cached = join(k.dir, 'closures', `${arch.deb}-${key}.json`);
  if (existsSync(cached)) return JSON.parse(await readFile(cached, 'utf8')) as ResolvedDeb[];
  const debs = await resolve(k, arch, roots);
  await mkdir(join(k.dir, 'closures'), { recursive: true });
  await writeFileAtomically(cached, JSON.stringify(debs, null, 1) + '\n');
  return debs;
}

async function resolve(k: KilnApt, arch: DebianArch, roots: string[]): Promise<ResolvedDeb[]> {
  const options = optionsFor(k.dir, arch);
  const install = await apt(
    [...options, '-qq', '--print-uris', 'install', ...roots.map((r) => `${r}:${arch.deb}`)],
    `install --print-uris ${roots.join(' ')} (${arch.deb})`,
  );
  // `install` names each .deb but gives at most an MD5; `download` gives the SHA-256 of each.
  const wanted = printedUris(install).map((u) => {
    const [name, version] = u.file.split('_');
    return `${name}:${arch.deb}=${version}`;
  });
  if (!wanted.length)
    throw failure('ToolFailed', `apt resolved nothing for ${roots.join(' ')} (${arch.deb}):\n${install}`);
  const download = await apt([...options, '-qq', '--print-uris', 'download', ...wanted], 'download --print-uris');
  const debs = printedUris(download).map((u) => {
    if (!u.sha256) throw failure('ToolFailed', `apt lists no SHA-256 for ${u.file}`);
    const [name, version] = u.file.split('_');
    return { name: name!, version: version!, file: u.file, sha256: u.sha256 };
  });
  return debs.sort((a, b) => a.name.localeCompare(b.name));
}

/** `'http://…/gcc_4%3a12.2.0-3_amd64.deb' gcc_4%3a12.2.0-3_amd64.deb 5216 SHA256:…` lines, file names decoded. */
export function printedUris(out: string): { file: string; size: number; sha256?: string }[] {
  const uris = [];
  for (const line of out.split('\n')) {
    const m = /^'[^']+'\s+(\S+\.deb)\s+(\d+)(?:\s+SHA256:([0-9a-f]{64}))?/.exec(line);
    if (m) uris.push({ file: decodeURIComponent(m[1]!), size: Number(m[2]), ...(m[3] ? { sha256: m[3] } : {}) });
  }
  return uris;
}

/**
 * The .debs, downloaded into `<dir>/archives/<deb arch>/` unless a file there already has the
 * expected SHA-256; returns each one's path, in the order given.
 */
export async function downloadDebs(k: KilnApt, arch: DebianArch, debs: ResolvedDeb[]): Promise<string[]> {
  const into = join(k.dir, 'archives', arch.deb);
  await mkdir(into, { recursive: true });
  const pathOf = (d: ResolvedDeb) => join(into, d.file);
  const good = async (d: ResolvedDeb) => existsSync(pathOf(d)) && sha256hex(await readFile(pathOf(d))) === d.sha256;
  const missing: ResolvedDeb[] = [];
  for (const d of debs) if (!(await good(d))) missing.push(d);
  if (missing.length) {
    // apt-get download writes into its working directory, checking each file against the lists.
    const partial = join(into, `.partial-${process.pid}`);
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial);
    try {
      await apt(
        [...optionsFor(k.dir, arch), '-qq', 'download', ...missing.map((d) => `${d.name}:${arch.deb}=${d.version}`)],
        `download (${missing.length} packages)`,
        partial,
      );
      for (const f of await readdir(partial)) await rename(join(partial, f), join(into, decodeURIComponent(f)));
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
    for (const d of missing)
      if (!(await good(d))) throw failure('CorruptArtifact', `${d.file}: missing or not the SHA-256 apt listed`);
  }
  return debs.map(pathOf);
}

export interface SourcePackage {
  name: string;
  version: string;
  /** Files of the source package (.dsc, .orig.tar.*, .debian.tar.*), with their SHA-256. */
  files: { name: string; sha256: string; size: number }[];
}

/** Every version of a source package the Sources lists know, newest first. */
export async function sourceVersions(k: KilnApt, name: string): Promise<SourcePackage[]> {
  const r = await execa('apt-cache', [...optionsFor(k.dir), 'showsrc', '--only-source', name], {
    all: true,
    reject: false,
  });
  if (r.exitCode !== 0 || !r.stdout.trim())
    throw failure('ToolFailed', `apt-cache showsrc ${name}: no such source package (exit ${r.exitCode}):\n${r.all}`);
  const seen = new Set<string>();
  const versions: SourcePackage[] = [];
  for (const paragraph of r.stdout.split(/\n\s*\n/)) {
    if (!paragraph.trim()) continue;
    const f = parseControl(paragraph);
    const version = f.get('Version');
    if (f.get('Package') !== name || !version || seen.has(version)) continue;
    seen.add(version);
    const files = (f.get('Checksums-Sha256') ?? '')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w.length === 3)
      .map(([sha256, size, file]) => ({ name: file!, sha256: sha256!, size: Number(size) }));
    versions.push({ name, version, files });
  }
  return versions.sort((a, b) => compareDebianVersions(b.version, a.version));
}

/** Downloads a source package's files into `into` (`apt-get source --download-only`, hashes checked). */
export async function downloadSource(k: KilnApt, src: SourcePackage, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  await apt(
    [...optionsFor(k.dir), '-qq', 'source', '--download-only', `${src.name}=${src.version}`],
    `source --download-only ${src.name}=${src.version}`,
    into,
  );
}

/** dpkg's version order (`dpkg --compare-versions`), which apt uses too. */
export function compareDebianVersions(a: string, b: string): number {
  const split = (v: string) => {
    const m = /^(?:(\d+):)?(.*?)(?:-([^-]*))?$/.exec(v)!;
    return [Number(m[1] ?? 0), m[2] ?? '', m[3] ?? '0'] as const;
  };
  const order = (c: string) =>
    c === '~' ? -1 : c === '' ? 0 : /[A-Za-z]/.test(c) ? c.charCodeAt(0) : c.charCodeAt(0) + 256;
  const part = (x: string, y: string): number => {
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
      while ((i < x.length && !/\d/.test(x[i]!)) || (j < y.length && !/\d/.test(y[j]!))) {
        const cx = i < x.length && !/\d/.test(x[i]!) ? x[i]! : '';
        const cy = j < y.length && !/\d/.test(y[j]!) ? y[j]! : '';
        const d = order(cx) - order(cy);
        if (d) return d;
        if (cx) i++;
        if (cy) j++;
        if (!cx && !cy) break;
      }
      let nx = '';
      let ny = '';
      while (i < x.length && /\d/.test(x[i]!)) nx += x[i++];
      while (j < y.length && /\d/.test(y[j]!)) ny += y[j++];
      const d = Number(nx || 0) - Number(ny || 0);
      if (d) return d;
    }
    return 0;
  };
  const [ea, ua, ra] = split(a);
  const [eb, ub, rb] = split(b);
  return ea - eb || part(ua, ub) || part(ra, rb);
}
