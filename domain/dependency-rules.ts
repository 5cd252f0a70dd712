// Domain: the rules across a catalog's packages and images, pure: names declared once, every
// dependency provided by a catalog package or a configured repository, and no build cycle that no
// older build breaks (cycles that share packages reported as one knot, with how to bootstrap it).
import type { CatalogProblem, ImageSpec, PackageSpec } from './catalog.js';
import { FileCheck } from './catalog-rules.js';
import { bootstrapFix, breakCycles } from './build-order.js';
import { atomName, catalogProviders } from './plan.js';

export function checkUniqueNames(packages: PackageSpec[], problems: CatalogProblem[]): void {
  // Names must be unique across packages and subpackages, whichever file declares them.
  const declaredIn = new Map<string, string>();
  for (const p of packages) {
    for (const [n, field] of [
      [p.name, 'package.name'],
      ...p.subpackages.map((s, i) => [s, `subpackages[${i}].name`]),
    ] as [string, string][]) {
      const other = declaredIn.get(n);
      if (other)
        new FileCheck(p.file, problems).add(
          field,
          `package "${n}" is also declared in ${other}`,
          `rename one of them, or remove the duplicate from ${p.file}`,
        );
      else declaredIn.set(n, p.file);
    }
  }
}

/** Names melange generates from a package's files (`so:libz.so.1`, `cmd:gzip`, `pc:zlib`, `py3.12:x`). */
const GENERATED_NAME = /^(so|cmd|pc|py\d?\.\d+):/;

/** Package names listed in a cycle problem; the rest are counted. */
const MEMBERS_LISTED = 20;

/** What the configured repositories provide, as the loader could read them. */
export interface ExternalProvides {
  /** Names the repositories' indexes provide. */
  external: Set<string>;
  /** Names kiln's own package repository holds a build of: older builds that break a cycle. */
  packageRepository?: Set<string>;
  /** A repository could not be read: nobody can tell what it provides. */
  unreadable: boolean;
  /** Package files that could not be read: taken as declared, so one broken file does not also
   * report every package that depends on it. */
  unreadablePackages: Set<string>;
}

/** Every dependency is provided by the catalog or a repository, and builds form no cycle. */
export function checkDependencies(
  packages: PackageSpec[],
  images: ImageSpec[],
  { external, packageRepository, unreadable, unreadablePackages }: ExternalProvides,
  problems: CatalogProblem[],
): void {
  const older = (name: string) => external.has(name) || (packageRepository?.has(name) ?? false);
  const providers = catalogProviders(packages);
  // With a repository unreadable nobody can tell what it provides: say that once, not per name.
  const provided = (atom: string) =>
    unreadable ||
    providers.has(atomName(atom)) ||
    external.has(atomName(atom)) ||
    unreadablePackages.has(atomName(atom));
  for (const p of packages) {
    const check = new FileCheck(p.file, problems);
    p.buildDependencies.forEach((atom, i) => {
      const n = atomName(atom);
      // Where it was written: environment.contents.packages, a test environment or a pipeline's needs.
      const field = p.buildDependencyFields?.[i] ?? `environment.contents.packages[${i}]`;
      // so:, cmd:, pc: names are what melange derives from built files: no config declares them.
      if (!provided(atom) && !GENERATED_NAME.test(n)) {
        check.add(
          field,
          `"${n}" is provided by no catalog package and no configured repository`,
          `add packages/${n}.yaml, correct the name, or add a repository that provides it to catalog.yaml repositories`,
        );
      } else if (providers.get(n) === p.name && !older(n) && !unreadable) {
        check.add(
          field,
          `dependency cycle: ${p.name} -> ${p.name} (it builds against its own "${n}" and neither a configured repository nor the package repository provides an older build)`,
          bootstrapFix([[p.name, p.name]]),
        );
      }
    });
    p.runtimeDependencies.forEach((atom, i) => {
      if (!provided(atom) && !GENERATED_NAME.test(atomName(atom))) {
        check.add(
          `package.dependencies.runtime[${i}]`,
          `"${atomName(atom)}" is provided by no catalog package and no configured repository`,
          `add packages/${atomName(atom)}.yaml, correct the name, or add a repository that provides it`,
        );
      }
    });
  }
  // An older published build breaks a cycle edge (recorded for planBuild); what is left is reported.
  const { dropped, cycles } = breakCycles(packages, providers, (n) => unreadable || older(n));
  for (const p of packages) if (dropped.has(p.name)) p.bootstrapFrom = dropped.get(p.name)!.sort();
  // Cycles that share a package are one knot to bootstrap: one problem each, not one per cycle
  // (a distribution's core without its published repository has thousands of cycles).
  const fileOf = new Map(packages.map((p) => [p.name, p.file]));
  for (const knot of knots(cycles)) {
    const [first] = knot;
    const members = [...new Set(knot.flat())].sort();
    const listed =
      members.length > MEMBERS_LISTED
        ? `${members.slice(0, MEMBERS_LISTED).join(', ')} and ${members.length - MEMBERS_LISTED} more`
        : members.join(', ');
    const shown = `${first!.join(' -> ')}${knot.length > 1 ? `, and ${knot.length - 1} more cycles among ${members.length} packages: ${listed}` : ''}`;
    new FileCheck(fileOf.get(first![0]!)!, problems).add(
      'environment.contents.packages',
      `dependency cycle: ${shown} (neither a configured repository nor the package repository holds an older build of any of them)`,
      bootstrapFix(knot),
    );
  }
  for (const img of images) {
    img.packages.forEach((atom, i) => {
      if (!provided(atom)) {
        new FileCheck(img.file, problems).add(
          `contents.packages[${i}]`,
          `"${atomName(atom)}" is provided by no catalog package and no configured repository`,
          `add packages/${atomName(atom)}.yaml, correct the name, or add a repository that provides it`,
        );
      }
    });
  }
}

/** Groups cycles that share a package (union-find over their members), in the order first found. */
function knots(cycles: string[][]): string[][][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    while (parent.get(x) !== x) x = parent.get(x) ?? (parent.set(x, x), x);
    return x;
  };
  for (const cycle of cycles) for (const n of cycle) find(n);
  for (const cycle of cycles) for (const n of cycle.slice(1)) parent.set(find(n), find(cycle[0]!));
  const groups = new Map<string, string[][]>();
  for (const cycle of cycles) {
    const root = find(cycle[0]!);
    (groups.get(root) ?? groups.set(root, []).get(root)!).push(cycle);
  }
  return [...groups.values()];
}
