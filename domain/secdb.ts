// Known-vulnerability matching against a feed in Wolfi's secdb shape (security.json): for each
// package, `secfixes` maps the version that fixed something to the CVE ids it fixed; "0" lists ids
// the package was never affected by. A version older than a fix (in APK order) still has those CVEs.
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
