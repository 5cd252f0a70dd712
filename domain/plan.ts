// The build plan: which catalog package builds against which, in what order, and which catalog
// packages each image installs. Pure (no Node APIs): workflow code imports it too.
import type { BuildPlan, Catalog, PackageSpec } from './catalog.js';

/** A dependency as apk reads it: `[!]name[@tag][op version]`, op one of = ~ ~= > < >= <= ><. */
export interface ParsedAtom {
  name: string;
  /** `!name`: the package must not be installed. */
  conflict: boolean;
  op?: string;
  version?: string;
  /** `name@tag`: pinned to a tagged repository. */
  tag?: string;
}

/** `foo>=1.2` -> {name: foo, op: >=, version: 1.2}; `so:libc.so.6=6`; `!bar`; `baz@edge`. */
export function parseAtom(atom: string): ParsedAtom {
  const trimmed = atom.trim();
  const conflict = trimmed.startsWith('!');
  const m = /^([^<>=~]*?)\s*(><|>=|<=|~=|[<>=~])\s*(.*)$/.exec(conflict ? trimmed.slice(1) : trimmed);
  const [head, op, version] = m ? [m[1]!, m[2]!, m[3]!] : [conflict ? trimmed.slice(1) : trimmed];
  const at = head.indexOf('@');
  const name = (at < 0 ? head : head.slice(0, at)).trim();
  return {
    name,
    conflict,
    ...(op ? { op, version } : {}),
    ...(at < 0 ? {} : { tag: head.slice(at + 1).trim() }),
  };
}

/** `foo>=1.2` -> `foo`; `so:libc.so.6=6` -> `so:libc.so.6`; `!bar` -> `bar`; `baz@edge` -> `baz`. */
export function atomName(atom: string): string {
  return parseAtom(atom).name;
}

/** Every name a catalog package answers to (its name, subpackages, provides) -> its origin. */
export function catalogProviders(packages: PackageSpec[]): Map<string, string> {
  const providers = new Map<string, string>();
  for (const p of packages) {
    for (const n of [p.name, ...p.subpackages, ...p.provides]) if (!providers.has(n)) providers.set(n, p.name);
  }
  return providers;
}

/**
 * Catalog origins a package builds against, by the names it needs from each. Itself is excluded (a
 * package never satisfies its own build dependency: an older build must come from a repository).
 */
export function buildEdges(p: PackageSpec, providers: Map<string, string>): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const atom of p.buildDependencies) {
    const n = atomName(atom);
    const origin = providers.get(n);
    if (origin && origin !== p.name) (edges.get(origin) ?? edges.set(origin, []).get(origin)!).push(n);
  }
  return edges;
}

/** The catalog archs a package is built for (its `target-architecture`), in the catalog's order. */
export function packageArchs(p: Pick<PackageSpec, 'archs'>, catalogArchs: string[]): string[] {
  return p.archs ? catalogArchs.filter((a) => p.archs!.includes(a)) : catalogArchs;
}

/** Catalog origins a package builds against, less those an older build breaks (`bootstrapFrom`). */
export function buildDependencies(p: PackageSpec, providers: Map<string, string>): string[] {
  const broken = new Set(p.bootstrapFrom ?? []);
  return [...buildEdges(p, providers).keys()].filter((o) => !broken.has(o)).sort();
}

export function planBuild(catalog: Catalog): BuildPlan {
  const providers = catalogProviders(catalog.packages);
  // A package whose target-architecture names none of the catalog's archs is not built at all.
  const catalogArchs = catalog.settings?.archs;
  const archsOf = (p: PackageSpec) => (catalogArchs && p.archs ? packageArchs(p, catalogArchs) : undefined);
  const notBuilt = catalog.packages.filter((p) => archsOf(p)?.length === 0).map((p) => p.name);
  const sorted = [...catalog.packages]
    .filter((p) => !notBuilt.includes(p.name))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const built = new Set(sorted.map((p) => p.name));
  const deps = new Map(sorted.map((p) => [p.name, buildDependencies(p, providers).filter((d) => built.has(d))]));
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
      // A package not built for the catalog's archs is no image's (checkPackageArchs reports it).
      if (!origin || seen.has(origin) || !byName.has(origin)) return;
      seen.add(origin);
      byName.get(origin)!.runtimeDependencies.forEach(walk);
    };
    roots.forEach(walk);
    return [...seen].sort();
  };
  return {
    packages: sorted.map((p) => {
      const archs = archsOf(p);
      return {
        name: p.name,
        version: p.version,
        epoch: p.epoch,
        dependsOn: deps.get(p.name)!,
        // Only when it differs from catalog.yaml archs: a payload stays as small as before.
        ...(archs && archs.length < catalogArchs!.length ? { archs } : {}),
      };
    }),
    ...(notBuilt.length
      ? {
          notBuilt: catalog.packages
            .filter((p) => notBuilt.includes(p.name))
            .map((p) => ({ name: p.name, archs: p.archs! }))
            .sort((a, b) => (a.name < b.name ? -1 : 1)),
        }
      : {}),
    levels,
    images: [...catalog.images]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((i) => ({ name: i.name, packages: closure(i.packages), tags: i.tags })),
  };
}

/** Every package that builds against `name`, directly or not: what a failure of `name` blocks. */
export function dependentsOf(plan: BuildPlan, name: string): string[] {
  return dependentsOfAny(plan, [name]);
}

/** Every package that builds against any of `names`, directly or not, found in one walk of the plan. */
export function dependentsOfAny(plan: BuildPlan, names: Iterable<string>): string[] {
  const dependents = new Map<string, string[]>();
  for (const p of plan.packages)
    for (const d of p.dependsOn) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(p.name);
  const out = new Set<string>();
  const queue = [...names];
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
