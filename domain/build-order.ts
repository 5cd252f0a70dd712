// Domain: breaking bootstrap cycles in the build graph as a distribution does. Pure (no Node APIs).
// A package never satisfies its own build dependency (buildEdges leaves that edge out). When the
// build edges form a cycle, an edge whose every needed name an older published build provides (a
// configured repository's index) is dropped: that package builds against the older build, as the
// Wolfi builder's policy does. A cycle no older build can break is returned for the problem report.
import type { PackageSpec } from './catalog.js';
import { buildEdges, findCycle } from './plan.js';

export interface BrokenCycles {
  /** Package -> catalog origins whose edge an older build replaces. */
  dropped: Map<string, string[]>;
  /** Cycles no older build breaks, each as `a -> b -> a`. */
  cycles: string[][];
}

/** Drops cycle edges an older build (a name in `published`) can stand in for; returns what is left. */
export function breakCycles(
  packages: PackageSpec[],
  providers: Map<string, string>,
  published: (name: string) => boolean,
): BrokenCycles {
  const edges = new Map(packages.map((p) => [p.name, buildEdges(p, providers)]));
  const graph = () => new Map([...edges].map(([n, e]) => [n, [...e.keys()].sort()]));
  const dropped = new Map<string, string[]>();
  const cycles: string[][] = [];
  // Each pass removes one edge of the cycle found, so this ends after at most one pass per edge.
  for (let cycle = findCycle(graph()); cycle; cycle = findCycle(graph())) {
    const pairs = cycle.slice(0, -1).map((from, i) => [from, cycle![i + 1]!] as const);
    const breakable = pairs.find(([from, to]) => edges.get(from)!.get(to)!.every(published));
    const [from, to] = breakable ?? pairs[pairs.length - 1]!;
    if (breakable) (dropped.get(from) ?? dropped.set(from, []).get(from)!).push(to);
    else cycles.push(cycle);
    edges.get(from)!.delete(to);
  }
  return { dropped, cycles };
}

/** The fix for a cycle no older build breaks: how to bootstrap it. */
export function bootstrapFix(cycle: string[]): string {
  const members = [...new Set(cycle)];
  return `publish an older build of ${members.join(' or ')} to a repository in catalog.yaml repositories (kiln then builds against it), or remove one of these build dependencies`;
}
