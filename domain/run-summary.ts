// A catalog rebuild's summary at any catalog size. The workflow never holds the whole summary in
// one payload: each run of a rebuild (it continues-as-new when Temporal suggests) stores the
// outcomes it finished as summary parts, and the last run assembles them into the summary, which is
// stored as an artifact; the workflow's result names it and counts. Pure: no I/O.
import type { EpochBump, ImageOutcome, ImageStatus, PackageOutcome, PackageStatus, RebuildSummary } from './summary.js';

/** Outcomes one run of a rebuild finished (a chunk of them: payloads stay small). */
export interface SummaryPart {
  packages: PackageOutcome[];
  images: ImageOutcome[];
}

/** The summary without its outcomes: what the workflow keeps of it while the outcomes are stored. */
export type SummaryHeader = Omit<RebuildSummary, 'packages' | 'images' | 'report'>;

/** How many packages and images ended in each status. */
export interface RebuildCounts {
  packages: Partial<Record<PackageStatus, number>>;
  images: Partial<Record<ImageStatus, number>>;
}

/**
 * What catalogRebuild returns: a reference to the stored summary (io/run-summary-store.ts reads
 * it) and counts, so the result stays small whatever the catalog's size.
 */
export interface RebuildResult {
  workflowId: string;
  /** The run that finished the rebuild (the last one when it continued-as-new). */
  runId: string;
  ok: boolean;
  /** The stored summary: `<artifact repository>:<tag>@<manifest digest>`, or `<file>@sha256:<hex>`. */
  summary: string;
  counts: RebuildCounts;
  /** How many runs the rebuild took (1 + the times it continued-as-new). */
  runs: number;
  report?: { path: string; timeline: 'stages' | 'durations' };
}

/**
 * A run's result as catalogRebuild returned it: a reference (RebuildResult), or the whole summary
 * (runs that started before summaries were stored, replayed to the end by an older history).
 */
export type CatalogRebuildResult = RebuildResult | RebuildSummary;

export const isSummaryReference = (r: CatalogRebuildResult): r is RebuildResult =>
  'summary' in r && typeof r.summary === 'string';

/** The epoch bump that names this package as a dependent, if any. */
export const bumpOf = (bumps: EpochBump[], name: string): EpochBump | undefined =>
  bumps.find((b) => b.packages.some((p) => p.name === name));

const finished = (s: PackageStatus) => s !== 'failed' && s !== 'blocked';

/**
 * A package's outcome once the package phase's epoch bumps are known: one whose bump could not be
 * committed failed (its published build links a soname that is gone); one whose bump was committed
 * names its new epoch, branch and commit.
 */
export function withEpochBump(p: PackageOutcome, bumps: EpochBump[]): PackageOutcome {
  const bump = bumpOf(bumps, p.name);
  if (!bump || !finished(p.status)) return p;
  if (bump.error)
    return {
      name: p.name,
      version: p.version,
      epoch: p.epoch,
      durationMs: p.durationMs,
      status: 'failed',
      error: bump.error,
    };
  const newEpoch = bump.packages.find((b) => b.name === p.name)?.newEpoch;
  return bump.branch && bump.commit && newEpoch !== undefined
    ? { ...p, epochBump: { epoch: newEpoch, branch: bump.branch, commit: bump.commit } }
    : p;
}

/** A package's status once the epoch bumps are known (withEpochBump's, for the counts). */
export const statusWithEpochBump = (name: string, status: PackageStatus, bumps: EpochBump[]): PackageStatus =>
  finished(status) && bumpOf(bumps, name)?.error ? 'failed' : status;

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The whole summary from its header and every part, packages and images in name order (the plan's). */
export function assembleSummary(header: SummaryHeader, parts: SummaryPart[]): RebuildSummary {
  const bumps = header.epochBumps ?? [];
  return {
    ...header,
    packages: parts
      .flatMap((p) => p.packages)
      .map((p) => withEpochBump(p, bumps))
      .sort(byName),
    images: parts.flatMap((p) => p.images).sort(byName),
  };
}

/** The outcomes split into parts of at most `size` outcomes each (one payload each). */
export function splitIntoParts(outcomes: SummaryPart, size: number): SummaryPart[] {
  const parts: SummaryPart[] = [];
  for (let i = 0; i < outcomes.packages.length; i += size)
    parts.push({ packages: outcomes.packages.slice(i, i + size), images: [] });
  for (let i = 0; i < outcomes.images.length; i += size)
    parts.push({ packages: [], images: outcomes.images.slice(i, i + size) });
  return parts;
}

/** How many of each status. */
export function countStatuses<S extends string>(statuses: Iterable<S>): Partial<Record<S, number>> {
  const counts: Partial<Record<S, number>> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}
