// Reads an APK repository index (APKINDEX.tar.gz): what a configured repository provides, so the
// catalog loader can tell a missing dependency from one a repository satisfies.
import { gunzipSync } from 'node:zlib';
import { atomName } from './plan.js';

export interface ApkIndexEntry {
  /** P: */
  name: string;
  /** V: full version with release, e.g. 1.35.0-r0 */
  version: string;
  /** A: */
  arch: string;
  /** S: size of the .apk in bytes */
  size: number;
  /** C: Q1-prefixed base64 SHA-1 of the control section */
  checksum: string;
  /** o: the origin (source package) */
  origin?: string;
  /** D: dependency atoms, as written (may carry constraints) */
  dependencies: string[];
  /** p: provided atoms, as written (e.g. `cmd:sh=1.35.0-r0`) */
  provides: string[];
}

const BLOCK = 512;

/** The `APKINDEX` file inside the decompressed archive, or undefined. */
function findIndexFile(tar: Buffer): Buffer | undefined {
  let off = 0;
  let paxPath: string | undefined;
  while (off + BLOCK <= tar.length) {
    const header = tar.subarray(off, off + BLOCK);
    // Each gzip member is its own tar; a writer may end the signature member with end-of-archive
    // blocks, so zero blocks are skipped rather than taken as the end.
    if (header.every((b) => b === 0)) {
      off += BLOCK;
      continue;
    }
    const text = (start: number, len: number) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw new Error(`corrupt tar header at offset ${off}`);
    const type = text(156, 1) || '0';
    const prefix = text(345, 155);
    const data = tar.subarray(off + BLOCK, off + BLOCK + size);
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'))?.[1];
      continue;
    }
    if (type === 'g') continue;
    const name = (paxPath ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100))).replace(/^\.\//, '');
    paxPath = undefined;
    if (name === 'APKINDEX' && (type === '0' || type === '7')) return Buffer.from(data);
  }
  return undefined;
}

/** Entries of the stanza text of an APKINDEX (blank-line separated `X:value` lines). */
export function parseApkIndexText(text: string): ApkIndexEntry[] {
  const entries: ApkIndexEntry[] = [];
  for (const stanza of text.split(/\r?\n[ \t]*\r?\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split(/\r?\n/)) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (m) fields.set(m[1]!, m[2]!);
    }
    const name = fields.get('P');
    if (!name) continue;
    const list = (k: string) => (fields.get(k) ?? '').split(' ').filter(Boolean);
    const origin = fields.get('o');
    entries.push({
      name,
      version: fields.get('V') ?? '',
      arch: fields.get('A') ?? '',
      size: Number(fields.get('S') ?? 0),
      checksum: fields.get('C') ?? '',
      ...(origin !== undefined ? { origin } : {}),
      dependencies: list('D'),
      provides: list('p'),
    });
  }
  return entries;
}

/**
 * Parses APKINDEX.tar.gz: concatenated gzip members (the signature tar, then the tar holding
 * APKINDEX and DESCRIPTION). gunzipSync inflates every member into one stream.
 */
export function parseApkIndex(buf: Buffer): ApkIndexEntry[] {
  const index = findIndexFile(gunzipSync(buf));
  if (!index) throw new Error('the archive holds no APKINDEX file');
  return parseApkIndexText(index.toString('utf8'));
}

/** Every name an index satisfies: package names plus what they provide, without `=version`. */
export function providedNames(entries: ApkIndexEntry[]): Set<string> {
  const names = new Set<string>();
  for (const e of entries) {
    names.add(e.name);
    for (const p of e.provides) names.add(atomName(p));
  }
  return names;
}
