// I/O: one repository's APKINDEX.tar.gz for one arch, from a local directory or over HTTP(S), as
// apko and melange read repositories. The catalog loader and the image input digest read through it.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseApkIndex, type ApkIndexEntry } from '../domain/apkindex.js';

const FETCH_TIMEOUT_MS = 60_000;

/** Where a repository keeps an arch's index. */
export const indexLocation = (repo: string, arch: string) => `${repo.replace(/\/$/, '')}/${arch}/APKINDEX.tar.gz`;

/**
 * The entries of a repository's index for an arch: none for a local repository without that arch
 * (nothing published yet); what keeps it from being read is returned as `error`, not thrown.
 */
export async function readRepositoryIndex(
  repo: string,
  arch: string,
): Promise<{ entries: ApkIndexEntry[] } | { error: string }> {
  const index = indexLocation(repo, arch);
  let buf: Buffer;
  try {
    if (/^https?:\/\//.test(repo)) {
      const res = await fetch(index, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }).catch((err: unknown) => {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        return `cannot fetch ${index}: ${cause?.code ?? cause?.message ?? String(err)}`;
      });
      if (typeof res === 'string') return { error: res };
      if (!res.ok) return { error: `cannot fetch ${index}: HTTP ${res.status}` };
      buf = Buffer.from(await res.arrayBuffer());
    } else {
      if (!existsSync(index)) return { entries: [] };
      buf = await readFile(index);
    }
  } catch (err) {
    return { error: (err as Error).message };
  }
  try {
    return { entries: await parseApkIndex(buf) };
  } catch (err) {
    return { error: `cannot read ${index}: ${(err as Error).message}` };
  }
}
