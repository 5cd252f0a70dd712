// The ABI guard: the sonames a new build provides against what the published version provided.
// Pure: judges index entries and `.PKGINFO` provides already read.
import type { ApkIndexEntry } from './apkindex.js';
import type { Catalog } from './catalog.js';
import { compareApkVersions, fullVersion } from './apk-version.js';
import { atomName } from './plan.js';
import { failure } from './failures.js';

export interface AbiVerdict {
  verdict: 'first-build' | 'compatible' | 'break-allowed';
  /** `so:` names the published version (main package and subpackages) provided and this build does not. */
  removed: string[];
  /** `so:` names this build provides that the published version did not. */
  added: string[];
  /** Origins that depend on a removed soname: rebuild them against the new one. */
  rebuild: string[];
  /** From catalog.yaml abi.allowedBreaks, when the break is allowed. */
  reason?: string;
}

/** One build of a package, as the guard sees it. */
export interface AbiBuild {
  name: string;
  version: string;
  epoch: number;
  arch: string;
}

export const sonames = (atoms: string[]) => atoms.map(atomName).filter((p) => p.startsWith('so:'));
export const sorted = (s: Iterable<string>) => [...new Set(s)].sort();

/** Latest version of each package name in an index (an index may keep older versions). */
export function latestByName(entries: ApkIndexEntry[]): Map<string, ApkIndexEntry> {
  const latest = new Map<string, ApkIndexEntry>();
  for (const e of entries) {
    const prior = latest.get(e.name);
    if (!prior || compareApkVersions(e.version, prior.version) > 0) latest.set(e.name, e);
  }
  return latest;
}

/**
 * Compares the sonames this build provides (all its APKs) with what the published packages of
 * the same names (and any published subpackage of the same origin this build no longer makes)
 * provided. Consumers depend on `so:` names, not on which subpackage has them, so a soname moving
 * between subpackages is no break; one that disappears or changes name is (AbiBreak, unless
 * catalog.yaml abi.allowedBreaks names it).
 */
export function abiVerdict(
  build: AbiBuild,
  apks: { name: string; provides: string[] }[],
  index: ApkIndexEntry[],
  catalog: Catalog,
): AbiVerdict {
  const latest = latestByName(index);
  const ours = new Set(apks.map((a) => a.name));
  const isOurs = (e: ApkIndexEntry) => ours.has(e.name) || (e.origin ?? e.name) === build.name;
  const published = [...latest.values()].filter(isOurs);
  const now = sorted(apks.flatMap((a) => sonames(a.provides)));
  if (!published.length) return { verdict: 'first-build', removed: [], added: now, rebuild: [] };
  const before = sorted(published.flatMap((e) => sonames(e.provides)));
  const removed = before.filter((s) => !now.includes(s));
  const added = now.filter((s) => !before.includes(s));
  if (!removed.length) return { verdict: 'compatible', removed, added, rebuild: [] };

  const needsRemoved = (deps: string[]) => deps.some((d) => removed.includes(atomName(d)));
  const rebuild = sorted([
    ...[...latest.values()].filter((e) => !isOurs(e) && needsRemoved(e.dependencies)).map((e) => e.origin ?? e.name),
    ...catalog.packages.filter((p) => p.name !== build.name && needsRemoved(p.runtimeDependencies)).map((p) => p.name),
  ]);
  const allowed = catalog.settings.abi.allowedBreaks.find(
    (b) => (b.package === build.name || ours.has(b.package)) && b.version === build.version,
  );
  if (allowed) return { verdict: 'break-allowed', removed, added, rebuild, reason: allowed.reason };
  const had = published
    .filter((e) => sonames(e.provides).some((s) => removed.includes(s)))
    .map((e) => `${e.name} ${e.version}`);
  throw failure(
    'AbiBreak',
    `ABI break in ${build.name} ${fullVersion(build)} (${build.arch}): no longer provides ${removed.join(', ')} (published ${had.join(', ')} did)` +
      `${added.length ? `; now provides ${added.join(', ')}` : ''}. ` +
      `Rebuild against the new soname: ${rebuild.join(', ') || '(no known dependents)'}. ` +
      `(fix: keep providing the old soname, or, if the break is intended, add to catalog.yaml abi.allowedBreaks: ` +
      `- { package: ${build.name}, version: ${build.version}, reason: "..." } and rebuild the dependents)`,
    { details: [{ removed, added, rebuild }] },
  );
}
