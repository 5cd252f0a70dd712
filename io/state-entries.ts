// I/O: what lies under KILN_STATE that the retention policy (domain/retention.ts) judges, and its
// careful removal. Listed: each build directory under builds/<arch>/, each OCI layout directory and
// predicate file under images/, each snapshot under snapshots/ (and snapshots/staging/<name>/), each
// worktree under worktrees/, each run's report directory under reports/, each run summary file
// under summaries/, leftovers of crashed attempts included (their names vary, their place
// does not). Never listed: the package repository, keys, bootstrap and toolchain repositories,
// service data, logs and caches.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { KilnPaths } from '../config/config.js';
import type { StateEntry, StateKind } from '../domain/retention.js';

/** Bytes a file or directory tree takes on disk (allocated blocks, as du counts them). */
export async function diskUsage(path: string): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  let bytes = st.blocks * 512;
  if (st.isDirectory())
    for (const name of await readdir(path).catch(() => [] as string[])) bytes += await diskUsage(join(path, name));
  return bytes;
}

const children = async (dir: string): Promise<string[]> =>
  (await readdir(dir).catch(() => [] as string[])).sort().map((name) => join(dir, name));

const isDir = async (path: string) => (await lstat(path).catch(() => undefined))?.isDirectory() ?? false;

async function entry(kind: StateKind, path: string): Promise<StateEntry | undefined> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return undefined; // removed meanwhile
  const name = basename(path);
  return {
    kind,
    path,
    lastUsed: st.mtimeMs,
    bytes: await diskUsage(path),
    ...(kind === 'snapshot' && /^[0-9a-f]{64}$/.test(name) ? { snapshotDigest: name } : {}),
  };
}

/** Every entry the policy judges, with its last-used time and size. */
export async function listStateEntries(paths: KilnPaths): Promise<StateEntry[]> {
  const found: [StateKind, string][] = [];
  for (const arch of await children(paths.builds))
    if (await isDir(arch)) for (const path of await children(arch)) found.push(['build', path]);
  for (const path of await children(paths.images)) {
    // Predicates are files written per image digest (signing/statements.ts): each is its own entry.
    if (basename(path) === 'predicates' && (await isDir(path)))
      for (const file of await children(path)) found.push(['image', file]);
    else found.push(['image', path]);
  }
  for (const path of await children(paths.snapshots)) {
    if (basename(path) === 'staging' && (await isDir(path))) {
      for (const name of await children(path))
        if (await isDir(name)) for (const snap of await children(name)) found.push(['snapshot', snap]);
    } else found.push(['snapshot', path]);
  }
  for (const path of await children(paths.worktrees)) found.push(['worktree', path]);
  // Run reports: reports/<workflowId>/<runId>.html (activities/run-report.ts), one entry per workflow id.
  for (const path of await children(join(paths.state, 'reports'))) found.push(['report', path]);
  // Run summaries and their parts kept as files (KILN_ARTIFACTS=none, io/run-summary-store.ts): each file.
  for (const path of await children(join(paths.state, 'summaries'))) found.push(['summary', path]);
  const entries: StateEntry[] = [];
  for (const [kind, path] of found) {
    const e = await entry(kind, path);
    if (e) entries.push(e);
  }
  return entries;
}

export type Removal = 'removed' | 'gone' | 'used-again';

/**
 * Removes an entry unless it was used since it was listed. The check is made twice around an atomic
 * rename to a hidden name next to it: a step that marks it used (io/state-use.ts) before the rename
 * is seen after it and the entry is put back; one that comes after finds it gone and makes it anew.
 * A rename inside one directory keeps the entry's modification time. A crash mid-way leaves a
 * `.removing-*` entry with the old time, removed by the next clean-up.
 */
export async function removeEntry(e: StateEntry): Promise<Removal> {
  const before = await lstat(e.path).catch(() => undefined);
  if (!before) return 'gone';
  if (before.mtimeMs !== e.lastUsed) return 'used-again';
  const trash = join(dirname(e.path), `.removing-${basename(e.path)}-${randomUUID().slice(0, 8)}`);
  try {
    await rename(e.path, trash);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const after = await lstat(trash);
  if (after.mtimeMs !== e.lastUsed) {
    // Marked used just before the rename: put it back, unless the user already made a new one there.
    if (!existsSync(e.path)) await rename(trash, e.path);
    else await rm(trash, { recursive: true, force: true });
    return 'used-again';
  }
  await rm(trash, { recursive: true, force: true });
  // A staging area's directory goes with its last snapshot.
  if (e.kind === 'snapshot' && basename(dirname(dirname(e.path))) === 'staging')
    await rmdir(dirname(e.path)).catch(() => undefined);
  return 'removed';
}
