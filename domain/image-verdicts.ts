// Pure judgements on images: what changed between the published image and the next one, and
// whether a known CVE fails the catalog's vulnerability policy.
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
