// Reads an APK repository index (APKINDEX.tar.gz): what a configured repository provides, so the
// catalog loader can tell a missing dependency from one a repository satisfies.
import { gunzipSync } from 'node:zlib';
import { atomName } from './plan.js';
import { corruptArtifact } from './failures.js';
import { readTar } from './tar.js';

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
  /** i: install_if atoms: installed automatically once all of these are (absent when none) */
  installIf?: string[];
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
      ...(fields.has('i') ? { installIf: list('i') } : {}),
    });
  }
  return entries;
}

/**
 * Parses APKINDEX.tar.gz: concatenated gzip members (the signature tar, then the tar holding
 * APKINDEX and DESCRIPTION). gunzipSync inflates every member into one stream; the tar reader
 * skips the end-of-archive blocks a writer may leave between them.
 */
export async function parseApkIndex(buf: Buffer): Promise<ApkIndexEntry[]> {
  let tar: Buffer;
  try {
    tar = gunzipSync(buf);
  } catch (err) {
    throw corruptArtifact(`not an APKINDEX.tar.gz: ${(err as Error).message}`, err);
  }
  const index = (await readTar(tar, 'APKINDEX.tar.gz')).find(
    (f) => f.path === 'APKINDEX' && (f.type === '0' || f.type === '7'),
  );
  if (!index) throw corruptArtifact('the archive holds no APKINDEX file');
  return parseApkIndexText(index.data.toString('utf8'));
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
