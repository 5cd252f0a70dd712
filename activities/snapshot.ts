// Snapshots the catalog into a content-addressed copy and validates it, so a run builds exactly
// what it validated even if the working tree changes meanwhile.
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { BuildPlan, Catalog } from '../domain/catalog.js';
import { CatalogInvalid, loadCatalog } from '../io/catalog-loader.js';
import { planBuild } from '../domain/plan.js';
import { REPO_ROOT, catalogEnv, kilnPaths } from '../config/config.js';

/** What a workflow holds of a catalog: a reference to the snapshot and its (small) build plan. */
export interface CatalogSnapshot {
  /** sha256 over every file's path and content. */
  digest: string;
  dir: string;
  /** Git commit of the catalog's repository, when it is in one. */
  gitCommit?: string;
  plan: BuildPlan;
  /** Where images go, for the summary: `host[:port]/prefix`. */
  registry: string;
  archs: string[];
  concurrency: { packages: number; images: number };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    if (entry.isFile() && !relative(dir, full).split('/').includes('.git')) out.push(full);
  }
  return out.sort();
}

export async function catalogDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listFiles(dir)) {
    hash.update(`${relative(dir, file)}\0`);
    hash.update(createHash('sha256').update(await readFile(file)).digest('hex'));
    hash.update('\n');
  }
  return hash.digest('hex');
}

async function gitCommit(dir: string): Promise<string | undefined> {
  const r = await execa('git', ['-C', dir, 'rev-parse', 'HEAD'], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** The catalog as the snapshot recorded it: activities read this instead of re-validating. */
export async function readSnapshot(dir: string): Promise<Catalog & { gitCommit?: string }> {
  return JSON.parse(await readFile(join(dir, '.kiln-catalog.json'), 'utf8')) as Catalog & { gitCommit?: string };
}

export function defaultCatalogDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.KILN_CATALOG ?? join(REPO_ROOT, 'catalog'));
}

export async function snapshotCatalog(input: { catalogDir?: string }): Promise<CatalogSnapshot> {
  const source = resolve(input.catalogDir ?? defaultCatalogDir());
  if (!existsSync(join(source, 'catalog.yaml'))) {
    throw ApplicationFailure.nonRetryable(
      `${join(source, 'catalog.yaml')}: no catalog here (fix: pass catalogDir pointing at a directory with catalog.yaml)`,
      'CatalogInvalid',
    );
  }
  const digest = await catalogDigest(source);
  const dir = join(kilnPaths().snapshots, digest);
  if (!existsSync(dir)) {
    const staging = `${dir}.partial-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    await cp(source, staging, { recursive: true, filter: (f) => !f.split('/').includes('.git') });
    // The copy must be what was hashed; a file edited mid-copy would make the snapshot lie.
    if ((await catalogDigest(staging)) !== digest) {
      await rm(staging, { recursive: true, force: true });
      throw ApplicationFailure.retryable(`catalog ${source} changed while it was being snapshotted`, 'CatalogChanged');
    }
    await rename(staging, dir).catch(async (err: unknown) => {
      await rm(staging, { recursive: true, force: true });
      if (!existsSync(dir)) throw err; // another worker won the race with the same content
    });
  }
  let catalog: Catalog;
  try {
    catalog = await loadCatalog(dir, { env: catalogEnv() });
  } catch (err) {
    if (err instanceof CatalogInvalid) {
      throw ApplicationFailure.create({ message: err.message, type: 'CatalogInvalid', nonRetryable: true });
    }
    throw err;
  }
  const plan = planBuild(catalog);
  const commit = await gitCommit(source);
  await writeFile(join(dir, '.kiln-catalog.json'), JSON.stringify({ ...catalog, gitCommit: commit }, null, 2));
  return {
    digest,
    dir,
    gitCommit: commit,
    plan,
    registry: catalog.settings.registry,
    archs: catalog.settings.archs,
    concurrency: catalog.settings.concurrency,
  };
}
