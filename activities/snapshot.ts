// Activities: the functions the kiln worker registers, one file per pipeline stage family; each
// takes (config, input) and is bound in index.ts. Helpers that are not activities live in apk/,
// io/, adapters/ and domain/.
//
// Snapshots the catalog into a content-addressed copy and validates it, so a run builds exactly
// what it validated even if the working tree changes meanwhile.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import type { BuildPlan } from '../domain/catalog.js';
import { catalogInvalid } from '../domain/failures.js';
import { planBuild } from '../domain/plan.js';
import { headCommit } from '../adapters/git.js';
import { loadCatalog } from '../io/catalog-loader.js';
import { catalogDigest, copyCatalog, writeSnapshot } from '../io/catalog-snapshot.js';

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

/** An invalid catalog is a non-retryable CatalogInvalid listing every problem (file, field, fix). */
export async function snapshotCatalog(config: KilnConfig, input: { catalogDir?: string }): Promise<CatalogSnapshot> {
  const source = resolve(input.catalogDir ?? config.catalogDir);
  if (!existsSync(join(source, 'catalog.yaml'))) {
    throw catalogInvalid(
      `${join(source, 'catalog.yaml')}: no catalog here (fix: pass catalogDir pointing at a directory with catalog.yaml)`,
    );
  }
  const digest = await catalogDigest(source);
  const dir = join(config.paths.snapshots, digest);
  await copyCatalog(source, dir, digest);
  const catalog = await loadCatalog(dir, { env: config.catalogEnv });
  const plan = planBuild(catalog);
  const commit = await headCommit(source);
  await writeSnapshot(dir, { ...catalog, gitCommit: commit });
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
