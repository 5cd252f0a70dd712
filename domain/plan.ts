// The build plan: which catalog package builds against which, in what order, and which catalog
// packages each image installs. Pure (no Node APIs): workflow code imports it too.
import type { BuildPlan, Catalog, PackageSpec } from './catalog.js';

/** `foo>=1.2` -> `foo`; `so:libc.so.6=6` -> `so:libc.so.6`; `!bar` -> `bar`. */
export function atomName(atom: string): string {
  return atom
    .replace(/^!/, '')
    .split(/[<>=~]/)[0]!
    .trim();
}

/** Every name a catalog package answers to (its name, subpackages, provides) -> its origin. */
export function catalogProviders(packages: PackageSpec[]): Map<string, string> {
  const providers = new Map<string, string>();
  for (const p of packages) {
    for (const n of [p.name, ...p.subpackages, ...p.provides]) if (!providers.has(n)) providers.set(n, p.name);
  }
  return providers;
}

/** Catalog origins a package builds against (itself excluded: an older build must come from a repository). */
export function buildDependencies(p: PackageSpec, providers: Map<string, string>): string[] {
  const deps = new Set<string>();
  for (const atom of p.buildDependencies) {
    const origin = providers.get(atomName(atom));
    if (origin && origin !== p.name) deps.add(origin);
  }
  return [...deps].sort();
}

/** A cycle in a dependency graph as a path that ends where it starts (`a -> b -> a`), if any. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      const found = visit(d);
      if (found) return found;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of [...graph.keys()].sort()) {
    const found = visit(n);
    if (found) return found;
  }
  return undefined;
}

export function planBuild(catalog: Catalog): BuildPlan {
  const providers = catalogProviders(catalog.packages);
  const sorted = [...catalog.packages].sort((a, b) => (a.name < b.name ? -1 : 1));
  const deps = new Map(sorted.map((p) => [p.name, buildDependencies(p, providers)]));
  // Longest-path layering: a package sits one level above its deepest dependency.
  const level = new Map<string, number>();
  const levelOf = (n: string): number => {
    if (!level.has(n)) level.set(n, Math.max(-1, ...deps.get(n)!.map(levelOf)) + 1);
    return level.get(n)!;
  };
  const levels: string[][] = [];
  for (const p of sorted) (levels[levelOf(p.name)] ??= []).push(p.name);

  const byName = new Map(sorted.map((p) => [p.name, p]));
  const closure = (roots: string[]): string[] => {
    const seen = new Set<string>();
    const walk = (atom: string) => {
      const origin = providers.get(atomName(atom));
      if (!origin || seen.has(origin)) return;
      seen.add(origin);
      byName.get(origin)!.runtimeDependencies.forEach(walk);
    };
    roots.forEach(walk);
    return [...seen].sort();
  };
  return {
    packages: sorted.map((p) => ({ name: p.name, version: p.version, epoch: p.epoch, dependsOn: deps.get(p.name)! })),
    levels,
    images: [...catalog.images]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((i) => ({ name: i.name, packages: closure(i.packages), tags: i.tags })),
  };
}

/** Every package that builds against `name`, directly or not: what a failure of `name` blocks. */
export function dependentsOf(plan: BuildPlan, name: string): string[] {
  const dependents = new Map<string, string[]>();
  for (const p of plan.packages)
    for (const d of p.dependsOn) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(p.name);
  const out = new Set<string>();
  const queue = [name];
  while (queue.length) {
    for (const n of dependents.get(queue.pop()!) ?? []) {
      if (!out.has(n)) {
        out.add(n);
        queue.push(n);
      }
    }
  }
  return [...out].sort();
}
