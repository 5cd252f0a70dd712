// Domain: breaking bootstrap cycles in the build graph as a distribution does. Pure (no Node APIs).
// A package never satisfies its own build dependency (buildEdges leaves that edge out). When the
// build edges form a cycle, an edge whose every needed name an older published build provides (a
// configured repository's index, or kiln's own package repository) is dropped: that package builds
// against the older build, as the Wolfi builder's policy does. A cycle no older build can break is
// returned for the problem report.
import type { PackageSpec } from './catalog.js';
import { buildEdges } from './plan.js';

export interface BrokenCycles {
  /** Package -> catalog origins whose edge an older build replaces. */
  dropped: Map<string, string[]>;
  /** Cycles no older build breaks, each as `a -> b -> a`. */
  cycles: string[][];
}

/** An edge that closes a cycle in a depth-first walk, with the walk's path from `to` to `from`. */
interface BackEdge {
  from: string;
  to: string;
  /** Tree edges only: `to`, ..., `from`. */
  path: string[];
}

/**
 * The back edges of one depth-first walk (nodes and successors in name order, so the result is
 * deterministic). Removing every back edge leaves the graph acyclic; each closes the cycle `path`.
 * Iterative, so a long dependency chain cannot overflow the stack.
 */
function backEdges(edges: Map<string, Map<string, string[]>>): BackEdge[] {
  const state = new Map<string, 'open' | 'done'>();
  const found: BackEdge[] = [];
  const successors = (n: string) => [...(edges.get(n)?.keys() ?? [])].sort();
  for (const root of [...edges.keys()].sort()) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const pending: string[][] = [successors(root)];
    state.set(root, 'open');
    while (path.length) {
      const next = pending[pending.length - 1]!.shift();
      if (next === undefined) {
        state.set(path.pop()!, 'done');
        pending.pop();
        continue;
      }
      const seen = state.get(next);
      if (seen === 'open') {
        found.push({ from: path[path.length - 1]!, to: next, path: path.slice(path.indexOf(next)) });
      } else if (!seen) {
        state.set(next, 'open');
        path.push(next);
        pending.push(successors(next));
      }
    }
  }
  return found;
}

/**
 * Drops cycle edges an older build (a name `published` knows) can stand in for; returns what is
 * left. One walk finds a cycle per back edge; an edge of that cycle is dropped (the back edge when
 * an older build replaces it, else the first replaceable edge on the cycle, else the back edge and
 * the cycle is reported). Walks repeat until the graph is acyclic: linear work per walk, where
 * restarting a search per cycle took seconds on a distribution's thousands of cycles.
 */
export function breakCycles(
  packages: PackageSpec[],
  providers: Map<string, string>,
  published: (name: string) => boolean,
): BrokenCycles {
  const edges = new Map(packages.map((p) => [p.name, buildEdges(p, providers)]));
  const dropped = new Map<string, string[]>();
  const cycles: string[][] = [];
  const present = (from: string, to: string) => edges.get(from)?.has(to) ?? false;
  const replaceable = (from: string, to: string) => edges.get(from)!.get(to)!.every(published);
  const drop = (from: string, to: string) => {
    (dropped.get(from) ?? dropped.set(from, []).get(from)!).push(to);
    edges.get(from)!.delete(to);
  };
  for (let found = backEdges(edges); found.length; found = backEdges(edges)) {
    for (const { from, to, path } of found) {
      const pairs = [...path.slice(1).map((n, i) => [path[i]!, n] as const), [from, to] as const];
      // An earlier drop in this walk may have broken this cycle already: the next walk decides.
      if (!pairs.every(([a, b]) => present(a, b))) continue;
      if (replaceable(from, to)) drop(from, to);
      else {
        const tree = pairs.find(([a, b]) => replaceable(a, b));
        if (tree) drop(...tree);
        else {
          cycles.push([...path, to]);
          edges.get(from)!.delete(to);
        }
      }
    }
  }
  return { dropped, cycles };
}

/**
 * Packages that together lie on every cycle given (greedy: the package on most cycles first), in
 * the order chosen: the older builds that would break all of those cycles.
 */
export function bootstrapCandidates(cycles: string[][]): string[] {
  let open = cycles.map((c) => new Set(c));
  const chosen: string[] = [];
  while (open.length) {
    const count = new Map<string, number>();
    for (const c of open) for (const n of c) count.set(n, (count.get(n) ?? 0) + 1);
    const [best] = [...count].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]!;
    chosen.push(best);
    open = open.filter((c) => !c.has(best));
  }
  return chosen;
}

/** The fix for cycles no older build breaks: how to bootstrap them. */
export function bootstrapFix(cycles: string[][]): string {
  const how =
    'to a repository in catalog.yaml repositories, or build it once without the dependency that closes the cycle (kiln keeps that build in its package repository and builds against it from then on), or remove one of these build dependencies';
  if (cycles.length === 1) return `publish an older build of ${[...new Set(cycles[0])].join(' or ')} ${how}`;
  const candidates = bootstrapCandidates(cycles);
  return `publish older builds of ${candidates.join(', ')} (together they lie on every cycle found here) ${how}`;
}
