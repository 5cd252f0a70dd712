// Domain: which archs each package is built for. melange v0.58 builds a package for an arch only
// when its `package.target-architecture` lists that APK arch name (pkg/build/build.go: any other
// arch is skipped); an empty list, or exactly `[all]`, means every arch. kiln builds each package
// for the catalog.yaml `archs` it lists; one that lists none of them is not built at all. Pure.
import type { CatalogProblem, ImageSpec, PackageSpec } from './catalog.js';
import { APK_ARCHS } from './melange-compile.js';
import { atomName, catalogProviders, packageArchs } from './plan.js';

/**
 * `package.target-architecture` (substituted, with the field of each entry) as a list of APK archs,
 * or undefined when it does not limit them (absent, empty or `[all]`). A name melange never builds
 * for is a problem: it matches no arch, silently.
 */
export function targetArchitecture(
  entries: { value: string; field: string }[],
  check: { add(field: string, message: string, fix: string): void },
): string[] | undefined {
  if (!entries.length || (entries.length === 1 && entries[0]!.value === 'all')) return undefined;
  for (const { value, field } of entries)
    if (!APK_ARCHS.includes(value))
      check.add(
        field,
        value === 'all'
          ? '"all" means every arch only as the one entry; beside other archs it matches none'
          : `"${value}" is not an APK arch name: melange compares it with the build arch (x86_64, aarch64, ...) and builds for no arch it names`,
        value === 'all'
          ? 'write target-architecture: [all] alone, or list the archs'
          : `use APK arch names: ${APK_ARCHS.join(', ')}`,
      );
  return entries.map((e) => e.value);
}

/**
 * The archs to compile a package's pipelines for: the catalog's (default x86_64) it is built for;
 * one built for none of them is still compiled once, for its problems.
 */
export function archsToCompile(target: string[] | undefined, catalogArchs: string[] = ['x86_64']): string[] {
  const built = target ? catalogArchs.filter((a) => target.includes(a)) : catalogArchs;
  return built.length ? built : target?.length ? target.slice(0, 1) : ['x86_64'];
}

/**
 * Every catalog package a package builds against, installs at run time, or an image installs, is
 * built for each arch that package or image is built for (images: every catalog arch). A name a
 * configured repository provides too, or an edge an older build breaks (`bootstrapFrom`), is not
 * judged here: the repository may serve that arch.
 */
export function checkPackageArchs(
  packages: PackageSpec[],
  images: ImageSpec[],
  catalogArchs: string[],
  external: Set<string>,
  problems: CatalogProblem[],
): void {
  if (!packages.some((p) => p.archs)) return;
  const providers = catalogProviders(packages);
  const byName = new Map(packages.map((p) => [p.name, p]));
  // Only names of packages built for some of the catalog's archs can be missing somewhere.
  const limited = new Set(packages.filter((p) => p.archs).map((p) => p.name));
  const names = new Map<string, string>();
  const nameOf = (atom: string) => names.get(atom) ?? names.set(atom, atomName(atom)).get(atom)!;
  const judge = (
    file: string,
    field: string,
    atom: string,
    self: string | undefined,
    archs: string[],
    what: string,
  ) => {
    const n = nameOf(atom);
    const origin = providers.get(n);
    if (!origin || !limited.has(origin) || origin === self || external.has(n)) return;
    const dep = byName.get(origin)!;
    const has = packageArchs(dep, catalogArchs);
    const missing = archs.filter((a) => !has.includes(a));
    if (!missing.length) return;
    problems.push({
      file,
      field,
      message: `${what} "${n}" from ${origin}, which is not built for ${missing.join(', ')} (${dep.file} package.target-architecture: [${dep.archs!.join(', ')}])`,
      fix: `add ${missing.join(', ')} to package.target-architecture in ${dep.file}${
        self
          ? `, or limit this package to ${has.length ? `[${archs.filter((a) => has.includes(a)).join(', ')}]` : 'the archs it builds for'} with package.target-architecture`
          : ''
      }`,
    });
  };
  for (const p of packages) {
    const archs = packageArchs(p, catalogArchs);
    if (!archs.length) continue;
    const broken = new Set(p.bootstrapFrom ?? []);
    p.buildDependencies.forEach((atom, i) => {
      if (broken.has(providers.get(nameOf(atom)) ?? '')) return;
      const field = p.buildDependencyFields?.[i] ?? `environment.contents.packages[${i}]`;
      judge(p.file, field, atom, p.name, archs, 'builds against');
    });
    p.runtimeDependencies.forEach((atom, i) =>
      judge(p.file, `package.dependencies.runtime[${i}]`, atom, p.name, archs, 'installs at run time'),
    );
  }
  for (const img of images)
    img.packages.forEach((atom, i) =>
      judge(img.file, `contents.packages[${i}]`, atom, undefined, catalogArchs, 'installs'),
    );
}

/**
 * The task queue a package build for `arch` runs on: `<task queue>-<arch>`. Workers poll the queues
 * of the archs they build (natively or under qemu-user), so one arch's builds can move to native
 * workers of that arch without touching the others.
 */
export const archQueue = (taskQueue: string, arch: string) => `${taskQueue}-${arch}`;
