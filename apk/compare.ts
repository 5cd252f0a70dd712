// Compares a rebuild's APKs with the published ones of the same names, byte for byte, and when
// they differ says where: which APK, its sizes, and which tar entries (signature, control and data
// members) differ by path. This is what `force` reports as "reproduced" or "not reproducible".
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { sha256hex } from '../domain/digest.js';
import type { ApkDifference, Reproducibility } from '../domain/summary.js';
import { readTar } from '../domain/tar.js';
import { splitGzipMembers } from './reader.js';
import type { BuiltApk } from './repository.js';

/** Entries listed per APK at most: enough to point at the cause, small enough for a workflow payload. */
const MAX_ENTRIES = 50;

/** Every tar entry of every gzip member of an APK: path -> what it holds (type, link, content digest). */
async function entries(apk: Buffer, what: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const member of splitGzipMembers(apk)) {
    for (const e of await readTar(gunzipSync(member), what)) {
      out.set(e.path, `${e.type} ${e.linkname} ${sha256hex(e.data)}`);
    }
  }
  return out;
}

/** The entries of two APKs that differ, by path (sorted). */
export async function differingEntries(
  published: Buffer,
  rebuilt: Buffer,
  what: string,
): Promise<ApkDifference['entries']> {
  const [a, b] = [await entries(published, what), await entries(rebuilt, what)];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: ApkDifference['entries'] = [];
  for (const path of paths) {
    if (a.get(path) === b.get(path)) continue;
    out.push({ path, change: !b.has(path) ? 'only-published' : !a.has(path) ? 'only-rebuilt' : 'changed' });
  }
  return out;
}

/**
 * Compares the APKs of a rebuild (in `rebuiltDir`) with the published ones (in `publishedDir`),
 * over the union of both builds' file names: identical when every file exists on both sides with
 * the same bytes.
 */
export async function compareApks(o: {
  publishedDir: string;
  published: BuiltApk[];
  rebuiltDir: string;
  rebuilt: BuiltApk[];
}): Promise<Reproducibility> {
  const files = [...new Set([...o.published.map((a) => a.file), ...o.rebuilt.map((a) => a.file)])].sort();
  const differences: ApkDifference[] = [];
  for (const file of files) {
    const read = async (dir: string, listed: BuiltApk[]) =>
      listed.some((a) => a.file === file) && existsSync(join(dir, file)) ? await readFile(join(dir, file)) : undefined;
    const before = await read(o.publishedDir, o.published);
    const after = await read(o.rebuiltDir, o.rebuilt);
    if (before && after && before.equals(after)) continue;
    const difference: ApkDifference = {
      file,
      ...(before ? { publishedSize: before.length, publishedSha256: sha256hex(before) } : {}),
      ...(after ? { rebuiltSize: after.length, rebuiltSha256: sha256hex(after) } : {}),
      entries: before && after ? (await differingEntries(before, after, file)).slice(0, MAX_ENTRIES) : [],
    };
    differences.push(difference);
  }
  return { identical: differences.length === 0, differences };
}
