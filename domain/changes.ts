// Domain: what a change to a catalog rebuilds, pure. From the files changed (paths relative to the
// catalog directory), the packages whose config or sources changed, the packages that build
// against them (reverse build dependencies), and the images that include any of them.
import type { BuildPlan, Catalog } from './catalog.js';
import { dependentsOf } from './plan.js';
import { selectWork } from './selection.js';

export interface ChangeImpact {
  /** Every package and image rebuilds: catalog.yaml changed. */
  everything: boolean;
  /** Packages whose config (packages/<f>.yaml) or sources (packages/<f>/**) changed. */
  changed: string[];
  /** The changed packages and everything that builds against them, sorted. */
  packages: string[];
  /** Images whose directory changed or that include a rebuilt package. */
  images: string[];
}

/**
 * `files` are paths relative to the catalog directory (as `git diff --name-only` relative to it
 * gives them). Files that are neither a package's, an image's (its directory or what its apko.yaml
 * includes) nor catalog.yaml rebuild nothing.
 */
export function changeImpact(catalog: Catalog, plan: BuildPlan, files: string[]): ChangeImpact {
  if (files.includes('catalog.yaml'))
    return {
      everything: true,
      changed: plan.packages.map((p) => p.name),
      packages: plan.packages.map((p) => p.name),
      images: plan.images.map((i) => i.name),
    };
  // packages/<stem>.yaml holds a package; packages/<stem>/** are its sources.
  const byStem = new Map(
    catalog.packages.map((p) => [p.file.replace(/^packages\//, '').replace(/\.yaml$/, ''), p.name]),
  );
  const imageNames = new Set(plan.images.map((i) => i.name));
  const changed = new Set<string>();
  const images = new Set<string>();
  for (const f of files) {
    const pkg = /^packages\/([^/]+?)(?:\.yaml$|\/)/.exec(f)?.[1];
    const img = /^images\/([^/]+)\//.exec(f)?.[1];
    if (pkg !== undefined && byStem.has(pkg)) changed.add(byStem.get(pkg)!);
    if (img !== undefined && imageNames.has(img)) images.add(img);
    // An image also changes with any file its apko.yaml includes.
    for (const i of catalog.images) if (i.includes?.includes(f)) images.add(i.name);
  }
  const packages = new Set(changed);
  for (const name of changed) dependentsOf(plan, name).forEach((d) => packages.add(d));
  const selected =
    changed.size || images.size ? selectWork(plan, { packages: [...changed], images: [...images] }) : undefined;
  return {
    everything: false,
    changed: [...changed].sort(),
    packages: [...packages].sort(),
    images: selected?.images ?? [],
  };
}

/** The impact as `kiln plan --since` prints it. */
export function impactText(ref: string, impact: ChangeImpact): string {
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : '(none)');
  return [
    impact.everything
      ? `Since ${ref}: catalog.yaml changed, so everything rebuilds.`
      : `Since ${ref}: changed packages: ${list(impact.changed)}`,
    `Packages to rebuild (${impact.packages.length}): ${list(impact.packages)}`,
    `Images to rebuild (${impact.images.length}): ${list(impact.images)}`,
  ].join('\n');
}
