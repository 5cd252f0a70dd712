// Catalog snapshots on disk: a content-addressed copy of a catalog directory (named by the digest
// of every file's path and content) and the validated catalog recorded beside it, which activities
// read instead of validating again.
import { randomUUID } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Catalog, PackageSpec } from '../domain/catalog.js';
import type { SourceCheck } from '../domain/source.js';
import type { RunTarget } from '../domain/target.js';
import { sha256hex, sha256stream } from '../domain/digest.js';
import { catalogInvalid, failure } from '../domain/failures.js';
import { writeFileAtomically } from './atomic-file.js';

/** The validated catalog's record inside a snapshot directory. */
export const RECORD = '.kiln-catalog.json';

/**
 * The catalog as a snapshot recorded it, with the commit of the catalog's repository and its check,
 * and the run's target (for staging, `settings` already name the staging repository and registry).
 */
export type SnapshotCatalog = Catalog & { gitCommit?: string; source?: SourceCheck; target?: RunTarget };

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    if (entry.isFile() && !relative(dir, full).split('/').includes('.git')) out.push(full);
  }
  return out.sort();
}

/** Each file's sha256 (hex) by its path relative to `dir`, in path order (`.git` left out). */
export async function catalogFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  // Read synchronously: thousands of small files read one await after the other take ten times longer.
  for (const file of await listFiles(dir)) out.set(relative(dir, file), sha256hex(readFileSync(file)));
  return out;
}

/** The catalog digest of files given as path → sha256 hex (a snapshot's, or a commit's tree). */
export function digestOfFiles(files: Map<string, string>): string {
  const hash = sha256stream();
  for (const path of [...files.keys()].sort()) hash.update(`${path}\0${files.get(path)}\n`);
  return hash.digest('hex');
}

/** sha256 over every file's path and content (`.git` left out). */
export async function catalogDigest(dir: string): Promise<string> {
  return digestOfFiles(await catalogFiles(dir));
}

/**
 * Copies `source` to `dir` unless a snapshot with that digest is already there. The copy must be
 * what was hashed: a file edited mid-copy is CatalogChanged (retried, the next attempt hashes again).
 * Each call copies into its own staging directory: runs snapshotting the same catalog at once (one
 * worker process or several) never share one, and the first complete copy wins.
 */
export async function copyCatalog(source: string, dir: string, digest: string): Promise<void> {
  if (existsSync(dir)) return;
  const staging = `${dir}.partial-${process.pid}-${randomUUID()}`;
  await mkdir(staging, { recursive: true });
  await cp(source, staging, { recursive: true, filter: (f) => !f.split('/').includes('.git') });
  if ((await catalogDigest(staging)) !== digest) {
    await rm(staging, { recursive: true, force: true });
    throw failure('CatalogChanged', `catalog ${source} changed while it was being snapshotted`, { retryable: true });
  }
  await rename(staging, dir).catch(async (err: unknown) => {
    await rm(staging, { recursive: true, force: true });
    if (!existsSync(dir)) throw err; // another worker won the race with the same content
  });
}

/** Records the validated catalog in its snapshot (written aside and renamed: readers never see half of it). */
export async function writeSnapshot(dir: string, catalog: SnapshotCatalog): Promise<void> {
  await writeFileAtomically(join(dir, RECORD), JSON.stringify(catalog, null, 2));
}

/** The records read last, by snapshot directory, with the identity of the file each was read from. */
const recentRecords = new Map<string, { key: string; catalog: Promise<SnapshotCatalog> }>();

/**
 * The catalog as the snapshot recorded it: activities read this instead of re-validating. Every
 * activity of a run reads it: parsed once per process while the record file is the same (a record is
 * replaced by a rename, a new file), so a run does not parse the whole catalog again per package.
 * Callers only read it.
 */
export async function readSnapshot(dir: string): Promise<SnapshotCatalog> {
  const file = join(dir, RECORD);
  const info = await stat(file).catch(() => undefined);
  const key = info && `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
  const hit = recentRecords.get(dir);
  if (key && hit?.key === key) return hit.catalog;
  const catalog = readFile(file, 'utf8').then((text) => JSON.parse(text) as SnapshotCatalog);
  if (!key) return catalog;
  recentRecords.delete(dir);
  recentRecords.set(dir, { key, catalog });
  if (recentRecords.size > 8) recentRecords.delete(recentRecords.keys().next().value!);
  catalog.catch(() => recentRecords.get(dir)?.catalog === catalog && recentRecords.delete(dir));
  return catalog;
}

/** Each catalog's packages by name, indexed once: a run looks up every package of its catalog. */
const packagesByName = new WeakMap<Catalog, Map<string, PackageSpec>>();

/** A package of a snapshot's catalog; a name it does not hold is CatalogInvalid. */
export function snapshotPackage(catalog: Catalog, name: string, snapshotDir: string): PackageSpec {
  let byName = packagesByName.get(catalog);
  if (!byName || byName.size !== catalog.packages.length) {
    // The first package of a name, as a search would find it.
    byName = new Map();
    for (const p of catalog.packages) if (!byName.has(p.name)) byName.set(p.name, p);
    packagesByName.set(catalog, byName);
  }
  const spec = byName.get(name);
  if (!spec) throw catalogInvalid(`package ${name} is not in catalog snapshot ${snapshotDir}`);
  return spec;
}
