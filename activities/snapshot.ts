// Activities: the functions the kiln worker registers, one file per pipeline stage family; each
// takes (config, input) and is bound in index.ts. Helpers that are not activities live in apk/,
// io/, adapters/ and domain/.
//
// Snapshots the catalog into a content-addressed copy and validates it, so a run builds exactly
// what it validated even if the working tree changes meanwhile; with catalog.yaml `source:`, only
// a commit signed by an allowed signer, whose files the snapshot is (io/source-integrity.ts).
// It also decides the run's target (domain/target.ts) from the worker's configuration, never from
// the input: anything but the configured catalog at a production commit builds into staging, and
// its snapshot records staging settings, so every later activity publishes there.
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import type { BuildPlan } from '../domain/catalog.js';
import { catalogInvalid } from '../domain/failures.js';
import { planBuild } from '../domain/plan.js';
import type { SourceCheck } from '../domain/source.js';
import { stagingName, stagingSettings, type RunTarget } from '../domain/target.js';
import { loadCatalog } from '../io/catalog-loader.js';
import { catalogDigest, copyCatalog, writeSnapshot } from '../io/catalog-snapshot.js';
import { checkSource } from '../io/source-integrity.js';
import { storeSnapshot } from '../io/snapshot-store.js';
import { markUsed } from '../io/state-use.js';

/** What a workflow holds of a catalog: a reference to the snapshot and its (small) build plan. */
export interface CatalogSnapshot {
  /** sha256 over every file's path and content. */
  digest: string;
  dir: string;
  /** Git commit of the catalog's repository, when it is in one. */
  gitCommit?: string;
  /** Who signed that commit (catalog.yaml `source:`), or why the source is unverified; `production` says where it may go. */
  source?: SourceCheck;
  /** production, or staging with its own package repository and registry namespace. */
  target?: RunTarget;
  plan: BuildPlan;
  /** Where images go (the target's): `host[:port]/prefix`. */
  registry: string;
  /** catalog.yaml `archs`; a package built for fewer (its target-architecture) has `plan.packages[].archs`. */
  archs: string[];
  concurrency: { packages: number; images: number };
}

const real = (dir: string) => (existsSync(dir) ? realpathSync(dir) : dir);

/**
 * Production only for the worker's configured catalog at a commit `source:` allows for production;
 * otherwise staging, named after the branch checked out (or `adhoc-<digest>`).
 */
function decideTarget(
  config: KilnConfig,
  catalogDir: string,
  digest: string,
  checked: SourceCheck,
): { kind: 'production' } | { kind: 'staging'; name: string; reason: string } {
  const configured = real(resolve(config.catalogDir));
  const reason =
    real(catalogDir) !== configured
      ? `${catalogDir} is not the worker's configured catalog ${configured}`
      : !checked.production
        ? `commit ${checked.commit ?? '?'} is not on ${checked.branch ?? 'the main branch'}`
        : undefined;
  if (!reason) return { kind: 'production' };
  // A branch names its staging area, unless it is the main branch (another directory on main is ad hoc).
  const main = checked.branch ?? 'main';
  const branch = checked.checkedOut && checked.checkedOut !== main ? checked.checkedOut : undefined;
  return { kind: 'staging', name: stagingName(branch, digest), reason };
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
  const contentDir = join(config.paths.snapshots, digest);
  // A run of unchanged content reuses the snapshot: marked used before it is read, a clean-up keeps
  // it (io/state-use.ts); one removed meanwhile is copied again.
  await markUsed(contentDir);
  await copyCatalog(source, contentDir, digest);
  const catalog = await loadCatalog(contentDir, { env: config.catalogEnv });
  const plan = planBuild(catalog);
  // Refuses (SourceUnverified) a commit catalog.yaml's source: does not allow, before anything is recorded.
  const checked = await checkSource(source, digest, catalog.settings.source);
  const commit = checked.commit;
  const decided = decideTarget(config, source, digest, checked);
  let dir = contentDir;
  let settings = catalog.settings;
  if (decided.kind === 'staging') {
    // Its own snapshot (still named by the digest): a production run of the same content keeps its settings.
    dir = join(config.paths.snapshots, 'staging', decided.name.replaceAll('/', '+'), digest);
    await markUsed(dir);
    await copyCatalog(source, dir, digest);
    const indexed = settings.archs.every((a) => existsSync(join(settings.packageRepository, a, 'APKINDEX.tar.gz')));
    settings = stagingSettings(settings, decided.name, indexed);
  }
  const target: RunTarget = {
    ...decided,
    packageRepository: settings.packageRepository,
    registry: settings.registry,
  };
  await writeSnapshot(dir, { ...catalog, settings, gitCommit: commit, source: checked, target });
  // Workers that share no disk materialize it from the artifact store (io/snapshot-store.ts).
  if (config.artifacts) await storeSnapshot(config, dir);
  return {
    digest,
    dir,
    gitCommit: commit,
    source: checked,
    target,
    plan,
    registry: settings.registry,
    archs: settings.archs,
    concurrency: settings.concurrency,
  };
}
