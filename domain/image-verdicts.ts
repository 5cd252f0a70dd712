// Pure judgements on images: what changed between the published image and the next one, whether
// a known CVE fails the catalog's vulnerability policy, and whether a run may move a tag.
import type { Severity, VulnerabilityPolicy } from './catalog.js';

export interface PackageChange {
  name: string;
  from: string;
  to: string;
}

/** What changed in the installed packages between two images. */
export function diffPackages(before: { name: string; version: string }[], after: { name: string; version: string }[]) {
  const old = new Map(before.map((p) => [p.name, p.version]));
  const now = new Map(after.map((p) => [p.name, p.version]));
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    added: after
      .filter((p) => !old.has(p.name))
      .map((p) => ({ name: p.name, version: p.version }))
      .sort(byName),
    removed: before
      .filter((p) => !now.has(p.name))
      .map((p) => ({ name: p.name, version: p.version }))
      .sort(byName),
    changed: after
      .filter((p) => old.has(p.name) && old.get(p.name) !== p.version)
      .map((p): PackageChange => ({ name: p.name, from: old.get(p.name)!, to: p.version }))
      .sort(byName),
  };
}

const SEVERITY_RANK: Record<Severity, number> = { unknown: 0, low: 1, medium: 2, high: 3, critical: 4 };

/**
 * A secdb feed may carry, besides `packages`, a top-level `"severities": {"CVE-2024-1": "high"}`
 * map (secdb itself has no severities). Ids missing from it, or with any other value, are
 * "unknown".
 */
export function severityOf(feed: { severities?: Record<string, string> }, id: string): Severity {
  const s = String(feed.severities?.[id] ?? '').toLowerCase();
  return s in SEVERITY_RANK ? (s as Severity) : 'unknown';
}

/** Whether a finding fails under `failOn`: `any` fails everything, otherwise only known severities at or above it. */
export function failsPolicy(severity: Severity, failOn: VulnerabilityPolicy['failOn']): boolean {
  if (failOn === 'any') return true;
  return severity !== 'unknown' && SEVERITY_RANK[severity] >= SEVERITY_RANK[failOn];
}

/**
 * Where kiln's provenance records the catalog time of the run that built an image (RFC 3339: the
 * catalogRebuild run's start, its place in the order of runs).
 */
export const CATALOG_TIME_PATH = 'buildDefinition.externalParameters.catalog.takenAt';

/**
 * Whether a run whose catalog time is `mine` may move a tag away from the image it points at, whose
 * provenance (signed by kiln) records `theirs`: not when any of those is later than `mine`, so a
 * run that started earlier and finishes later never moves a tag back to an older catalog's image.
 * Unreadable times, and images without kiln's provenance, do not hold a tag.
 */
export function mayMoveTag(mine: string, theirs: unknown[]): boolean {
  const at = Date.parse(mine);
  if (Number.isNaN(at)) return true;
  return !theirs.some((t) => typeof t === 'string' && Date.parse(t) > at);
}
