// Known-vulnerability matching against a feed in Wolfi's secdb shape (security.json): for each
// package, `secfixes` maps the version that fixed something to the CVE ids it fixed; "0" lists ids
// the package was never affected by. A version older than a fix (in APK order) still has those CVEs.
// secdb is keyed by ORIGIN: the source package (melange `package.name`) whose build made the APK.
// A subpackage (`foo-dev`, built from `foo`) is judged by `foo`'s entry at its own version, which
// is `foo`'s version: subpackages are built together with their origin.
import { compareApkVersions } from './apk-version.js';

export interface Secdb {
  packages: { pkg: { name: string; secfixes?: Record<string, string[]> } }[];
}

export interface Vulnerability {
  id: string;
  /** The version that fixes it; upgrading to this or later removes it. */
  fixedIn: string;
}

/** Checks the shape of a parsed feed; returns problems with the JSON path of each. */
export function secdbProblems(feed: unknown): string[] {
  const problems: string[] = [];
  const doc = feed as Secdb;
  if (typeof feed !== 'object' || feed === null || !Array.isArray(doc.packages))
    return ['packages: must be a list of {pkg: {name, secfixes}}'];
  doc.packages.forEach((p, i) => {
    if (typeof p?.pkg?.name !== 'string') problems.push(`packages[${i}].pkg.name: must be a string`);
    for (const [fixed, ids] of Object.entries(p?.pkg?.secfixes ?? {})) {
      if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string'))
        problems.push(`packages[${i}].pkg.secfixes["${fixed}"]: must be a list of ids`);
    }
  });
  return problems;
}

/** Vulnerabilities of `name` at `version` (full version with -rN), sorted by id. */
export function vulnerabilities(feed: Secdb, name: string, version: string): Vulnerability[] {
  const found = new Map<string, Vulnerability>();
  const notAffected = new Set<string>();
  for (const { pkg } of feed.packages) {
    if (pkg.name !== name) continue;
    for (const [fixed, ids] of Object.entries(pkg.secfixes ?? {})) {
      if (fixed === '0') {
        ids.forEach((id) => notAffected.add(id));
        continue;
      }
      if (compareApkVersions(version, fixed) >= 0) continue;
      for (const id of ids) {
        // Listed under several fixes: the earliest fix is the one to upgrade to.
        const prior = found.get(id);
        if (!prior || compareApkVersions(fixed, prior.fixedIn) < 0) found.set(id, { id, fixedIn: fixed });
      }
    }
  }
  return [...found.values()]
    .filter((v) => !notAffected.has(v.id))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** An installed package as the APK database records it (`P:`, `V:`, `o:`). */
export interface InstalledApk {
  name: string;
  version: string;
  /** `o:`, the origin package; apk omits it only for packages built without one. */
  origin?: string;
}

/** The secdb entry an installed package is judged by: its origin, else its own name. */
export const secdbName = (p: InstalledApk): string => p.origin || p.name;

export interface InstalledVulnerability extends Vulnerability {
  /** The installed package (maybe a subpackage) and its version. */
  package: string;
  version: string;
  /** The secdb entry that matched, when it is not the package's own name. */
  origin?: string;
}

/**
 * Vulnerabilities of every installed package, each matched through its origin's secdb entry;
 * the same package and version listed twice (several archs) is judged once. Sorted by package, then id.
 */
export function installedVulnerabilities(feed: Secdb, installed: InstalledApk[]): InstalledVulnerability[] {
  const unique = new Map(installed.map((p) => [`${p.name}\0${p.version}\0${secdbName(p)}`, p]));
  const found: InstalledVulnerability[] = [];
  for (const p of unique.values()) {
    const origin = secdbName(p);
    for (const v of vulnerabilities(feed, origin, p.version))
      found.push({ ...v, package: p.name, version: p.version, ...(origin !== p.name ? { origin } : {}) });
  }
  const key = (v: InstalledVulnerability) => `${v.package}\0${v.version}\0${v.id}`;
  return found.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
