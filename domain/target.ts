// Domain: a run's target, pure. Where a run may publish is decided by the worker, never by the
// run's input: `production` only for the worker's configured catalog (config.catalogDir) at a
// commit catalog.yaml's `source:` allows for production (its main branch); anything else (another
// catalog directory, an upstream-update or epoch-bump worktree, a commit off the main branch) is
// `staging`, named after its git branch (or `adhoc-<digest>`), with its own package repository and
// registry namespace, so production's repository, index and tags are never touched by it.
import type { CatalogSettings } from './catalog.js';

export interface RunTarget {
  kind: 'production' | 'staging';
  /** For staging: the sanitised branch name, or `adhoc-<first 12 of the catalog digest>`. */
  name?: string;
  /** For staging: why it is not production, in plain words. */
  reason?: string;
  /** Where packages are published (the snapshot's packageRepository). */
  packageRepository: string;
  /** Where images are pushed (the snapshot's registry, `host[:port]/prefix`). */
  registry: string;
}

/**
 * A registry path and directory name made from a branch: lowercase path components of
 * `[a-z0-9]` joined by single `.`, `_` or `-`; nothing else survives (no `..`, no leading dot).
 */
export function stagingName(branch: string | undefined, digest: string): string {
  const parts = (branch ?? '')
    .split('/')
    .map((c) =>
      c
        .toLowerCase()
        .replace(/[^a-z0-9._-]+/g, '-')
        .replace(/[._-]{2,}/g, '-')
        .replace(/^[._-]+|[._-]+$/g, ''),
    )
    .filter(Boolean);
  const name = parts
    .join('/')
    .slice(0, 100)
    .replace(/[/._-]+$/, '');
  return name || `adhoc-${digest.slice(0, 12)}`;
}

/** `/state/repo` → `/state/staging/repo/<name>`: beside production's, never inside it. */
function stagingRepository(packageRepository: string, name: string): string {
  const trimmed = packageRepository.replace(/\/+$/, '');
  const at = trimmed.lastIndexOf('/');
  const parent = at > 0 ? trimmed.slice(0, at) : '';
  return `${parent}/staging/${trimmed.slice(at + 1)}/${name}`;
}

/**
 * The settings a staging run builds with: its own package repository and registry namespace
 * (`<registry>/staging/<name>`). `productionIndexed`: production's repository has an index, so
 * staging builds read it as an extra input repository (unchanged dependencies need not rebuild;
 * it is signed by the same key) and never write to it.
 */
export function stagingSettings(settings: CatalogSettings, name: string, productionIndexed: boolean): CatalogSettings {
  return {
    ...settings,
    packageRepository: stagingRepository(settings.packageRepository, name),
    registry: `${settings.registry}/staging/${name}`,
    repositories: productionIndexed ? [...settings.repositories, settings.packageRepository] : settings.repositories,
  };
}

/** The summary's target line. */
export function describeTarget(t: RunTarget): string {
  return t.kind === 'production'
    ? `production (packages ${t.packageRepository}, images ${t.registry})`
    : `staging ${t.name} (unreviewed: ${t.reason}; packages ${t.packageRepository}, images ${t.registry})`;
}
