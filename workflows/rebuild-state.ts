// What a catalogRebuild run carries into the next when it continues-as-new: the snapshot it builds
// (a reference to its files, and its plan), the selection, and progress: what is finished, by
// status and input digest, never the outcomes' details (those are stored as summary parts, whose
// references it carries). Pure and deterministic: workflow code and unit tests both use it.
import type { CatalogSnapshot } from '../activities/index.js';
import type { EpochBump, ImageStatus, PackageStatus } from '../domain/summary.js';
import type { PackageBuildWorkflowResult } from './package-build.js';

/** A package an earlier run finished. */
export interface FinishedPackage {
  status: PackageStatus;
  /** Per arch; kept only while a package not yet finished builds against it. */
  inputDigests?: Record<string, string>;
  /** For a blocked package: the failed package it waits on. */
  blockedBy?: string;
}

export interface RebuildContinuation {
  snapshot: CatalogSnapshot;
  /** The packages and images this rebuild covers (the first run's selection). */
  work: { packages: string[]; images: string[] };
  /** Packages built again and compared with their published builds (`force`). */
  forced: string[];
  startedAt: string;
  /** The first run's start: this rebuild's place in the order of runs (a tag never moves back to an older one's image). */
  catalogTime: string;
  /** Run ids of the earlier runs, oldest first. */
  runs: string[];
  phase: 'packages' | 'images';
  packages: Record<string, FinishedPackage>;
  /** Finished builds with an allowed ABI break: the epoch bumps after the package phase need them. */
  abiBreaks: PackageBuildWorkflowResult[];
  /** Once the package phase is over. */
  epochBumps?: EpochBump[];
  images: Record<string, ImageStatus>;
  /** Summary parts the earlier runs stored (io/run-summary-store.ts). */
  parts: string[];
}

/** The first run's state: nothing finished yet. */
export function freshState(
  snapshot: CatalogSnapshot,
  work: { packages: string[]; images: string[] },
  forced: string[],
  started: { startedAt: string; catalogTime: string },
): RebuildContinuation {
  return {
    snapshot,
    work,
    forced,
    ...started,
    runs: [],
    phase: 'packages',
    packages: {},
    abiBreaks: [],
    images: {},
    parts: [],
  };
}

/** A build whose allowed ABI break removed sonames other packages link (they need epoch bumps). */
export const hasAbiBreak = (r: PackageBuildWorkflowResult): boolean =>
  Object.values(r.checks).some((c) => c.abi.verdict === 'break-allowed' && c.abi.rebuild.length > 0);

/**
 * The state the next run starts from: this run's id added to the runs, its parts added, and input
 * digests dropped for packages nothing unfinished builds against (they are no longer needed).
 */
export function continuation(state: RebuildContinuation, runId: string, parts: string[]): RebuildContinuation {
  const selected = new Set(state.work.packages);
  const needed = new Set(
    state.snapshot.plan.packages
      .filter((p) => selected.has(p.name) && !state.packages[p.name])
      .flatMap((p) => p.dependsOn),
  );
  const packages = Object.fromEntries(
    Object.entries(state.packages).map(([name, p]) => [
      name,
      needed.has(name) || !p.inputDigests
        ? p
        : { status: p.status, ...(p.blockedBy ? { blockedBy: p.blockedBy } : {}) },
    ]),
  );
  return { ...state, packages, runs: [...state.runs, runId], parts: [...state.parts, ...parts] };
}

/** A finished package's or image's state in the live progress query (its child ended: done or failed). */
export const progressOf = (status: PackageStatus | ImageStatus): 'done' | 'failed' | 'blocked' =>
  status === 'failed' || status === 'blocked' ? status : 'done';

/** Every package and image succeeded (a not-reproducible rebuild or a failed epoch bump is a failure). */
export function rebuildOk(state: RebuildContinuation): boolean {
  const okPackage = (s: PackageStatus) => s === 'built' || s === 'up-to-date' || s === 'reproduced';
  return (
    Object.values(state.packages).every((p) => okPackage(p.status)) &&
    (state.epochBumps ?? []).every((b) => !b.error) &&
    Object.values(state.images).every((s) => s === 'published' || s === 'unchanged')
  );
}
