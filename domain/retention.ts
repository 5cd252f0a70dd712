// The state directory's retention policy, as pure decisions: given what lies under KILN_STATE
// (builds, OCI layouts, catalog snapshots, git worktrees, run reports, run summaries kept as files
// with KILN_ARTIFACTS=none) and what Temporal says is running or ran
// last, which entries stay and which go. activities/state-cleanup.ts lists the disk and asks
// Temporal; this module only judges, so every rule is unit-tested without either.
//
// Why "last used" times rather than a manifest per run: every step that makes or reuses an entry
// sets its modification time (io/state-use.ts), so "what the last N runs need" is everything used
// since the N-th newest run started, and "what a running workflow may still reach" is everything
// used since the oldest running one started, plus what its input or memo names outright (a
// snapshot or worktree it was handed, made before it began). A run Temporal has forgotten (past the
// namespace's retention) cannot be rerun (`rerunFailedOf` needs its history), so it needs nothing.
// The package repository, the registry and the keys are never entries: published artifacts live
// there, and this policy never touches them.

export type StateKind = 'build' | 'image' | 'snapshot' | 'worktree' | 'report' | 'summary';

export const STATE_KINDS: readonly StateKind[] = ['build', 'image', 'snapshot', 'worktree', 'report', 'summary'];

/** One removable unit under KILN_STATE: a build or layout directory, a snapshot, a worktree, a predicate file. */
export interface StateEntry {
  kind: StateKind;
  path: string;
  /** Its modification time (ms since the epoch): when a step last made or reused it. */
  lastUsed: number;
  /** Bytes it takes on disk. */
  bytes: number;
  /** For a snapshot, its content digest (the directory's name). */
  snapshotDigest?: string;
}

/** The policy, from config/config.ts (`config.retention`). */
export interface RetentionPolicy {
  /** Keep what the last this-many catalogRebuild runs used (KILN_RETAIN_RUNS). */
  keepRuns: number;
  /** Keep anything used more recently than this, whatever the runs say (KILN_RETAIN_MIN_AGE_MINUTES). */
  minAgeMs: number;
}

/** What Temporal said, at the moment the entries were listed. */
export interface StateReferences {
  now: number;
  /** Start times (ms) of the catalogRebuild runs that have ended, as many as Temporal still knows. */
  closedRunStarts: number[];
  /** Start times (ms) of every kiln workflow still running (the clean-up itself excluded). */
  runningStarts: number[];
  /** Paths named by running workflows' inputs (catalogDir, snapshotDir, ...). */
  runningPaths: string[];
  /** Snapshot digests named by running workflows and by the last `keepRuns` runs (memo `catalogDigest`). */
  snapshotDigests: string[];
}

export type KeepReason = 'running' | 'recent-runs' | 'min-age';

export const KEEP_REASONS: Record<KeepReason, string> = {
  running: 'reachable by a running workflow',
  'recent-runs': 'used by the last runs',
  'min-age': 'younger than the minimum age',
};

export interface RetentionDecision {
  keep: { entry: StateEntry; reason: KeepReason }[];
  remove: StateEntry[];
  /** Entries used at or after this time (ms) stay; -Infinity keeps all (policy or too few runs known). */
  cutoff: number;
  /** How many ended runs the "last runs" rule counted (fewer than keepRuns when Temporal knows fewer). */
  runsJudged: number;
}

const inside = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** Which entries stay, each with its first reason, and which go. */
export function decideRetention(
  entries: StateEntry[],
  refs: StateReferences,
  policy: RetentionPolicy,
): RetentionDecision {
  const starts = [...refs.closedRunStarts].sort((a, b) => b - a).slice(0, policy.keepRuns);
  // With no run known, only the other rules keep anything: the runs rule has nothing to protect.
  const runsCutoff = policy.keepRuns === 0 ? Infinity : starts.length ? starts.at(-1)! : Infinity;
  const runningCutoff = refs.runningStarts.length ? Math.min(...refs.runningStarts) : Infinity;
  const ageCutoff = refs.now - policy.minAgeMs;
  const digests = new Set(refs.snapshotDigests);
  const reasonFor = (e: StateEntry): KeepReason | undefined => {
    if (e.lastUsed >= runningCutoff) return 'running';
    if (refs.runningPaths.some((p) => inside(p, e.path))) return 'running';
    if (e.snapshotDigest && digests.has(e.snapshotDigest)) return 'recent-runs';
    if (e.lastUsed >= runsCutoff) return 'recent-runs';
    if (e.lastUsed >= ageCutoff) return 'min-age';
    return undefined;
  };
  const keep: RetentionDecision['keep'] = [];
  const remove: StateEntry[] = [];
  for (const entry of entries) {
    const reason = reasonFor(entry);
    if (reason) keep.push({ entry, reason });
    else remove.push(entry);
  }
  return {
    keep,
    remove,
    cutoff: Math.min(runsCutoff, runningCutoff, ageCutoff),
    runsJudged: starts.length,
  };
}

/** What a clean-up did, as the activity returns it and the workflow's memo shows it. */
export interface CleanupReport {
  removed: { kind: StateKind; path: string; bytes: number }[];
  bytesFreed: number;
  kept: Record<KeepReason, number>;
  keptBytes: number;
  /** Entries left because they were used again between the listing and their removal. */
  skipped: string[];
  runsJudged: number;
  policy: RetentionPolicy;
}

/** "41.2 MiB" */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${units[u]}`;
}

const plural = (n: number, word: string) =>
  n === 1 ? `${n} ${word}` : `${n} ${word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`}`;

/** One line a person reads at a glance: what went, what it freed, what stayed and why. */
export function cleanupLine(r: CleanupReport): string {
  const byKind = STATE_KINDS.map((k) => [k, r.removed.filter((x) => x.kind === k).length] as const)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => plural(n, k));
  const kept = (Object.keys(KEEP_REASONS) as KeepReason[])
    .filter((k) => r.kept[k] > 0)
    .map((k) => `${r.kept[k]} ${KEEP_REASONS[k]}`);
  const keptCount = Object.values(r.kept).reduce((a, b) => a + b, 0);
  return [
    `removed ${r.removed.length}${byKind.length ? ` (${byKind.join(', ')})` : ''}, freed ${formatBytes(r.bytesFreed)}`,
    `kept ${keptCount} (${formatBytes(r.keptBytes)})${kept.length ? `: ${kept.join(', ')}` : ''}`,
    `policy: last ${plural(r.policy.keepRuns, 'run')} (${r.runsJudged} known), minimum age ${Math.round(r.policy.minAgeMs / 60_000)} min`,
    ...(r.skipped.length ? [`left ${r.skipped.length} used again meanwhile`] : []),
  ].join('; ');
}
