// Catalog snapshots on disk: a content-addressed copy of a catalog directory (named by the digest
// of every file's path and content) and the validated catalog recorded beside it, which activities
// read instead of validating again.
import { cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Catalog, PackageSpec } from '../domain/catalog.js';
import { sha256hex, sha256stream } from '../domain/digest.js';
import { catalogInvalid, failure } from '../domain/failures.js';

const RECORD = '.kiln-catalog.json';

/** The catalog as a snapshot recorded it, with the commit of the catalog's repository. */
export type SnapshotCatalog = Catalog & { gitCommit?: string };

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    if (entry.isFile() && !relative(dir, full).split('/').includes('.git')) out.push(full);
  }
  return out.sort();
}

/** sha256 over every file's path and content (`.git` left out). */
export async function catalogDigest(dir: string): Promise<string> {
  const hash = sha256stream();
  for (const file of await listFiles(dir)) {
    hash.update(`${relative(dir, file)}\0`);
    hash.update(sha256hex(await readFile(file)));
    hash.update('\n');
  }
  return hash.digest('hex');
}

/**
 * Copies `source` to `dir` unless a snapshot with that digest is already there. The copy must be
 * what was hashed: a file edited mid-copy is CatalogChanged (retried, the next attempt hashes again).
 */
export async function copyCatalog(source: string, dir: string, digest: string): Promise<void> {
  if (existsSync(dir)) return;
  const staging = `${dir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
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

/** Records the validated catalog in its snapshot. */
export async function writeSnapshot(dir: string, catalog: SnapshotCatalog): Promise<void> {
  await writeFile(join(dir, RECORD), JSON.stringify(catalog, null, 2));
}

/** The catalog as the snapshot recorded it: activities read this instead of re-validating. */
export async function readSnapshot(dir: string): Promise<SnapshotCatalog> {
  return JSON.parse(await readFile(join(dir, RECORD), 'utf8')) as SnapshotCatalog;
}

/** A package of a snapshot's catalog; a name it does not hold is CatalogInvalid. */
export function snapshotPackage(catalog: Catalog, name: string, snapshotDir: string): PackageSpec {
  const spec = catalog.packages.find((p) => p.name === name);
  if (!spec) throw catalogInvalid(`package ${name} is not in catalog snapshot ${snapshotDir}`);
  return spec;
}
