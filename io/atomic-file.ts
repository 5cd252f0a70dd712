// Files replaced whole: written beside their destination under a temporary name, then renamed over
// it, so a reader (another activity, another worker, a web server on the repository) sees the old
// file or the new one, never half of one. The temporary name is hidden (a leading `.`, so listings
// and shell globs such as `*.apk` pass it by) and random, so two writers never share one: workers
// on different hosts may share a volume, where pids repeat. It sits in the destination's directory
// because rename is atomic only within one file system. A failed write removes it. No fsync: kiln
// guards against a crashed process, not a crashed machine (a retry writes the file again).
import { randomUUID } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface WriteOptions {
  /** The new file's mode (before the umask); the default is writeFile's, 0o666. */
  mode?: number;
}

/** A temporary name in `path`'s directory, unique to this host, process and call (a random UUID). */
export function asideOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomUUID()}.tmp`);
}

/**
 * Replaces `path` with the file `write` makes at the temporary name it is given (a copy, a tool's
 * output, bytes): renamed into place once `write` resolves, removed if `write` or the rename fails.
 */
export async function replaceFile(path: string, write: (aside: string) => Promise<unknown>): Promise<void> {
  const aside = asideOf(path);
  try {
    await write(aside);
    await rename(aside, path);
  } catch (err) {
    await rm(aside, { force: true });
    throw err;
  }
}

/** Writes `data` to `path` whole (see replaceFile). */
export async function writeFileAtomically(
  path: string,
  data: string | Uint8Array,
  options: WriteOptions = {},
): Promise<void> {
  await replaceFile(path, (aside) => writeFile(aside, data, options));
}

/** writeFileAtomically for synchronous callers (key generation, the schema validator cache). */
export function writeFileAtomicallySync(path: string, data: string | Uint8Array, options: WriteOptions = {}): void {
  const aside = asideOf(path);
  try {
    writeFileSync(aside, data, options);
    renameSync(aside, path);
  } catch (err) {
    rmSync(aside, { force: true });
    throw err;
  }
}
