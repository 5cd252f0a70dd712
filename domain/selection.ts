// Which part of a plan a run rebuilds. Pure: the workflow calls it on the snapshot's plan.
import type { BuildPlan } from './catalog.js';
import { dependentsOfAny } from './plan.js';

export interface Selection {
  /** Packages to rebuild; with their reverse dependencies and the images that include any of them. */
  packages?: string[];
  /** Images to rebuild, with the packages they need. */
  images?: string[];
}

export interface SelectedWork {
  packages: string[];
  images: string[];
  /** Names the plan does not have, by input field. */
  unknown: { field: 'packages' | 'images'; name: string }[];
}

/**
 * Nothing selected means everything. Packages a selected package or image needs are included too
 * (they are reported "up to date" when unchanged), so the plan stays closed under dependencies.
 */
export function selectWork(plan: BuildPlan, sel: Selection): SelectedWork {
  const allPackages = plan.packages.map((p) => p.name);
  const allImages = plan.images.map((i) => i.name);
  if (!sel.packages?.length && !sel.images?.length) return { packages: allPackages, images: allImages, unknown: [] };
  // Sets, and one walk for all selected packages: a selection can be most of a large plan.
  const packageNames = new Set(allPackages);
  const imageNames = new Set(allImages);
  const unknown: SelectedWork['unknown'] = [
    ...(sel.packages ?? []).filter((n) => !packageNames.has(n)).map((name) => ({ field: 'packages' as const, name })),
    ...(sel.images ?? []).filter((n) => !imageNames.has(n)).map((name) => ({ field: 'images' as const, name })),
  ];
  const selected = (sel.packages ?? []).filter((p) => packageNames.has(p));
  const changed = new Set<string>(selected);
  if (selected.length) dependentsOfAny(plan, selected).forEach((d) => changed.add(d));
  const images = new Set<string>(sel.images?.filter((n) => imageNames.has(n)));
  for (const img of plan.images) if (img.packages.some((p) => changed.has(p))) images.add(img.name);
  const packages = new Set<string>(changed);
  for (const img of plan.images) if (images.has(img.name)) img.packages.forEach((p) => packages.add(p));
  // Close under build dependencies.
  const deps = new Map(plan.packages.map((p) => [p.name, p.dependsOn]));
  const stack = [...packages];
  while (stack.length)
    for (const d of deps.get(stack.pop()!) ?? [])
      if (!packages.has(d)) {
        packages.add(d);
        stack.push(d);
      }
  return {
    packages: allPackages.filter((p) => packages.has(p)),
    images: allImages.filter((i) => images.has(i)),
    unknown,
  };
}
