// Domain: a build plan written out for people and tools, pure. `text` is what `kiln plan` has
// always printed; `json` is the plan as data (with each package's level); `dot` is a Graphviz
// digraph of build edges (package -> what it builds against) and image -> package edges.
import type { BuildPlan } from './catalog.js';

export const PLAN_FORMATS = ['text', 'json', 'dot'] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** The plan as `kiln plan` prints it: levels with their build edges, then images. */
export function planText(p: BuildPlan): string {
  const deps = new Map(p.packages.map((x) => [x.name, x.dependsOn]));
  const archs = new Map(p.packages.flatMap((x) => (x.archs ? [[x.name, x.archs] as const] : [])));
  const after = (n: string) => deps.get(n) ?? [];
  // A package built for only some of the catalog's archs says which.
  const label = (n: string) => (archs.has(n) ? `${n} [${archs.get(n)!.join(', ')} only]` : n);
  const lines = [`Packages (${p.packages.length}), built level by level; a level's packages run in parallel:`];
  p.levels.forEach((level, i) => {
    lines.push(
      `  level ${i}: ${level.map((n) => (after(n).length ? `${label(n)} (after ${after(n).join(', ')})` : label(n))).join(', ')}`,
    );
  });
  if (p.notBuilt?.length)
    lines.push(
      `Not built (package.target-architecture names none of catalog.yaml archs): ${p.notBuilt.map((x) => `${x.name} [${x.archs.join(', ')}]`).join(', ')}`,
    );
  lines.push(`Images (${p.images.length}):`);
  for (const img of p.images)
    lines.push(
      `  ${img.name} [${img.tags.join(', ')}]: ${img.packages.length ? img.packages.join(', ') : '(repository packages only)'}`,
    );
  return lines.join('\n');
}

/**
 * Machine-readable plan: packages with version, epoch, dependsOn, level and (when not every catalog
 * arch) archs; packages not built for any catalog arch; images with packages and tags.
 */
export function planJson(p: BuildPlan): string {
  const level = new Map<string, number>();
  p.levels.forEach((names, i) => names.forEach((n) => level.set(n, i)));
  return JSON.stringify(
    {
      packages: p.packages.map((x) => ({
        name: x.name,
        version: x.version,
        epoch: x.epoch,
        dependsOn: x.dependsOn,
        level: level.get(x.name) ?? 0,
        ...(x.archs ? { archs: x.archs } : {}),
      })),
      ...(p.notBuilt?.length ? { notBuilt: p.notBuilt } : {}),
      images: p.images.map((i) => ({ name: i.name, packages: i.packages, tags: i.tags })),
    },
    null,
    2,
  );
}

/** A DOT identifier, quoted and escaped (names may hold `.`, `+`, `-`). */
const id = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Graphviz digraph: package nodes (boxes), image nodes (`image:<name>`), build and install edges. */
export function planDot(p: BuildPlan): string {
  const lines = ['digraph kiln {', '  rankdir=LR;', '  node [shape=box];'];
  for (const x of p.packages) lines.push(`  ${id(x.name)} [label=${id(`${x.name} ${x.version}-r${x.epoch}`)}];`);
  for (const x of p.packages) for (const d of x.dependsOn) lines.push(`  ${id(x.name)} -> ${id(d)};`);
  for (const i of p.images) {
    lines.push(`  ${id(`image:${i.name}`)} [shape=ellipse, label=${id(i.name)}];`);
    for (const pkg of i.packages) lines.push(`  ${id(`image:${i.name}`)} -> ${id(pkg)} [style=dashed];`);
  }
  lines.push('}');
  return lines.join('\n');
}

export function formatPlan(p: BuildPlan, format: PlanFormat): string {
  return format === 'json' ? planJson(p) : format === 'dot' ? planDot(p) : planText(p);
}
