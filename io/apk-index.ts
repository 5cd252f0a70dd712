// I/O: one repository's APKINDEX.tar.gz for one arch, from a local directory or over HTTP(S), as
// apko and melange read repositories. The catalog loader and the image input digest read through it.
import { readFile, stat } from 'node:fs/promises';
import { parseApkIndex, type ApkIndexEntry } from '../domain/apkindex.js';

const FETCH_TIMEOUT_MS = 60_000;

/** Where a repository keeps an arch's index. */
export const indexLocation = (repo: string, arch: string) => `${repo.replace(/\/$/, '')}/${arch}/APKINDEX.tar.gz`;

/** The last index read per local file, by what identifies its version (kiln publishes by rename: a new inode). */
const recentIndexes = new Map<string, { key: string; entries: Promise<ApkIndexEntry[]> }>();

/**
 * A local index's entries, parsed once per version of the file: every image of a night digests
 * its package closure from the same indexes, and a distribution's index takes about a second to
 * parse. Undefined when there is no such file.
 */
async function localIndex(index: string): Promise<ApkIndexEntry[] | undefined> {
  const info = await stat(index).catch(() => undefined);
  if (!info) return undefined;
  const key = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
  const hit = recentIndexes.get(index);
  if (hit?.key === key) return hit.entries;
  const entries = readFile(index).then((buf) => parseApkIndex(buf));
  recentIndexes.delete(index);
  recentIndexes.set(index, { key, entries });
  if (recentIndexes.size > 16) recentIndexes.delete(recentIndexes.keys().next().value!);
  entries.catch(() => recentIndexes.get(index)?.entries === entries && recentIndexes.delete(index));
  return entries;
}

/**
 * The entries of a repository's index for an arch: none for a local repository without that arch
 * (nothing published yet); what keeps it from being read is returned as `error`, not thrown.
 * Callers only read the entries (a local index's are shared).
 */
export async function readRepositoryIndex(
  repo: string,
  arch: string,
): Promise<{ entries: ApkIndexEntry[] } | { error: string }> {
  const index = indexLocation(repo, arch);
  if (!/^https?:\/\//.test(repo)) {
    try {
      return { entries: (await localIndex(index)) ?? [] };
    } catch (err) {
      return { error: `cannot read ${index}: ${(err as Error).message}` };
    }
  }
  const res = await fetch(index, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }).catch((err: unknown) => {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return `cannot fetch ${index}: ${cause?.code ?? cause?.message ?? String(err)}`;
  });
  if (typeof res === 'string') return { error: res };
  if (!res.ok) return { error: `cannot fetch ${index}: HTTP ${res.status}` };
  try {
    return { entries: await parseApkIndex(Buffer.from(await res.arrayBuffer())) };
  } catch (err) {
    return { error: `cannot read ${index}: ${(err as Error).message}` };
  }
}
