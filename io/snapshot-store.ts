// I/O: catalog snapshots shared between workers that share no disk. The snapshot step stores each
// snapshot (its files and the validated record) in kiln's artifact store (io/artifact-store.ts);
// a worker given a snapshot directory it does not have materializes it from there under its own
// state directory, checks the files against the snapshot's content digest (its directory name),
// and renames it into place, so a half-written snapshot is never read.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KilnConfig } from '../config/config.js';
import { sha256hex } from '../domain/digest.js';
import { corruptArtifact, failure } from '../domain/failures.js';
import { readTar, writeTar } from '../domain/tar.js';
import { getArtifact, putArtifact } from './artifact-store.js';
import { RECORD, catalogFiles, digestOfFiles } from './catalog-snapshot.js';

const ARTIFACT_TYPE = 'application/vnd.dev.kiln.catalog-snapshot.v1.tar+gzip';

/** A snapshot's path under a snapshots directory: `<digest>`, or `staging/<name>/<digest>`. */
export function snapshotKey(dir: string): string {
  const parts = dir.split('/');
  const at = parts.lastIndexOf('snapshots');
  const key = at < 0 ? [] : parts.slice(at + 1);
  if (!key.length || key.some((p) => p === '' || p === '.' || p === '..') || !/^[0-9a-f]{64}$/.test(key.at(-1)!))
    throw failure('InvalidInput', `${dir} is not a kiln catalog snapshot (…/snapshots/[staging/<name>/]<digest>)`);
  return key.join('/');
}

const tagOf = (key: string) => `snapshot-${sha256hex(key).slice(0, 48)}`;

/** The artifact store's tag for the snapshot in `dir`. */
export const snapshotTag = (dir: string) => tagOf(snapshotKey(dir));

/** Stores the snapshot in `dir` (written by the snapshot step) for workers on other hosts. */
export async function storeSnapshot(config: KilnConfig, dir: string): Promise<string> {
  const files = [...(await catalogFiles(dir)).keys(), RECORD].filter((f, i, all) => all.indexOf(f) === i).sort();
  const tar = writeTar(
    files.map((path) => ({ path, type: 'file' as const, mode: 0o644, content: readFileSync(join(dir, path)) })),
    { mtime: 0 },
  );
  return putArtifact(config, tagOf(snapshotKey(dir)), gzipSync(tar), ARTIFACT_TYPE);
}

/**
 * The snapshot `dir` names, on this worker: its copy under this worker's snapshots directory (where
 * the snapshot step of a worker with this state directory put it), materialized from the artifact
 * store the first time. Another worker's directory is never read, even where it is visible: with
 * `KILN_ARTIFACTS=none` workers share one KILN_STATE, and `dir` is read as it is.
 */
export async function localSnapshot(config: KilnConfig, dir: string): Promise<string> {
  if (!config.artifacts) {
    if (existsSync(join(dir, RECORD))) return dir;
    throw corruptArtifact(
      `catalog snapshot ${dir} is not on this worker, and KILN_ARTIFACTS is none (workers must share KILN_STATE)`,
    );
  }
  const key = snapshotKey(dir);
  const local = join(config.paths.snapshots, key);
  if (existsSync(join(local, RECORD))) return local;
  const layer = await getArtifact(config, tagOf(key));
  if (!layer)
    throw corruptArtifact(
      `catalog snapshot ${key} is neither on this worker nor in the artifact store ${config.artifacts}`,
    );
  const staging = `${local}.partial-${randomUUID()}`;
  try {
    for (const entry of await readTar(gunzipSync(layer), `snapshot ${key}`)) {
      const path = join(staging, entry.path);
      const inside = relative(staging, path);
      if (entry.type !== '0' || inside.startsWith('..') || inside === '')
        throw failure('UnsafeLayer', `snapshot ${key} holds ${entry.path}, which is not a file inside it`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, entry.data);
    }
    const files = await catalogFiles(staging);
    files.delete(RECORD);
    if (digestOfFiles(files) !== basename(key) || !existsSync(join(staging, RECORD)))
      throw corruptArtifact(`catalog snapshot ${key} from ${config.artifacts} does not match its digest`);
    await mkdir(dirname(local), { recursive: true });
    await rename(staging, local).catch((err: unknown) => {
      if (!existsSync(join(local, RECORD))) throw err; // another activity materialized it first
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return local;
}
