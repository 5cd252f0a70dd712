// APK v2: writing a signed package (for the offline bootstrap repository) and reading an APKINDEX.
// Layout: gzip(signature tar, cut) + gzip(control tar with .PKGINFO, cut) + gzip(data tar).
import { createHash, sign } from 'node:crypto';
import { basename } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readTar, writeTar, type TarEntry } from './tar.js';

export interface ApkInfo {
  name: string;
  /** Full version with release: `1.35.0-r0`. */
  version: string;
  arch: string;
  description: string;
  url: string;
  license: string;
  origin?: string;
  depends?: string[];
  provides?: string[];
  /** Unix seconds; also every file's mtime. */
  builddate: number;
}

const sha1hex = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');

/** gzip with a zero mtime in its header, so equal input gives equal bytes. */
function gzip(data: Buffer): Buffer {
  const gz = gzipSync(data, { level: 9 });
  gz.writeUInt32LE(0, 4);
  return gz;
}

export function writeApk(info: ApkInfo, files: TarEntry[], signingKeyPem: string, signingKeyName: string): Buffer {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const withChecksums = sorted.map((e) =>
    e.type === 'dir' ? e : { ...e, pax: { ...e.pax, 'APK-TOOLS.checksum.SHA1': sha1hex(e.type === 'file' ? (e.content ?? Buffer.alloc(0)) : e.target!) } },
  );
  const data = gzip(writeTar(withChecksums, { mtime: info.builddate }));
  const installed = Math.max(1, sorted.reduce((n, e) => n + (e.content?.length ?? 0), 0));
  const pkginfo = [
    `pkgname = ${info.name}`,
    `pkgver = ${info.version}`,
    `pkgdesc = ${info.description}`,
    `url = ${info.url}`,
    `builddate = ${info.builddate}`,
    `size = ${installed}`,
    `arch = ${info.arch}`,
    `origin = ${info.origin ?? info.name}`,
    `license = ${info.license}`,
    ...(info.depends ?? []).map((d) => `depend = ${d}`),
    ...(info.provides ?? []).map((p) => `provides = ${p}`),
    `datahash = ${createHash('sha256').update(data).digest('hex')}`,
    '',
  ].join('\n');
  const control = gzip(writeTar([{ path: '.PKGINFO', type: 'file', mode: 0o644, content: Buffer.from(pkginfo) }], { mtime: info.builddate, cut: true }));
  const signature = sign('sha256', control, signingKeyPem);
  const sigMember = gzip(writeTar([{ path: `.SIGN.RSA256.${basename(signingKeyName)}.pub`, type: 'file', mode: 0o644, content: signature }], { mtime: info.builddate, cut: true }));
  return Buffer.concat([sigMember, control, data]);
}

export interface ApkIndexEntry {
  name: string;
  version: string;
  arch: string;
  size: number;
  checksum: string;
  origin?: string;
  dependencies: string[];
  provides: string[];
}

/** Parses APKINDEX.tar.gz (all gzip members are concatenated into one tar stream). */
export function parseApkIndex(buf: Buffer): ApkIndexEntry[] {
  const files = readTar(gunzipSync(buf));
  const index = files.find((f) => f.path === 'APKINDEX');
  if (!index) throw new Error('no APKINDEX entry in the archive');
  const entries: ApkIndexEntry[] = [];
  for (const stanza of index.data.toString('utf8').split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!);
    }
    if (!fields.has('P')) continue;
    const list = (k: string) => (fields.get(k) ?? '').split(' ').filter(Boolean);
    entries.push({
      name: fields.get('P')!,
      version: fields.get('V') ?? '',
      arch: fields.get('A') ?? '',
      size: Number(fields.get('S') ?? 0),
      checksum: fields.get('C') ?? '',
      origin: fields.get('o'),
      dependencies: list('D'),
      provides: list('p'),
    });
  }
  return entries;
}

/** Strips a constraint from a dependency atom: `foo>=1.2` -> `foo`, `so:libc.so.6=6` -> `so:libc.so.6`. */
export function atomName(atom: string): string {
  return atom.replace(/^!/, '').split(/[<>=~]/)[0]!.trim();
}

/** Every name an index can satisfy: package names and their provides. */
export function providedNames(entries: ApkIndexEntry[]): Set<string> {
  const names = new Set<string>();
  for (const e of entries) {
    names.add(e.name);
    for (const p of e.provides) names.add(atomName(p));
  }
  return names;
}
