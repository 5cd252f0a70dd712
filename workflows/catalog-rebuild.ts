// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// catalogRebuild, the nightly run: snapshot and validate the catalog, build its packages in
// dependency order (a packageBuild child each), then its images (an imageBuild child each).
// At any catalog size: when Temporal suggests it (the history grows long), a run lets its running
// children finish and continues-as-new, carrying only progress (workflows/rebuild-state.ts); the
// outcomes are stored as summary parts, the last run stores the whole summary as an artifact, and
// the result is its reference and counts (domain/run-summary.ts).
import {
  defineQuery,
  makeContinueAsNewFunc,
  metricMeter,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CatalogSnapshot, KilnActivities } from '../activities/index.js';
import { invalidInput } from '../domain/failures.js';
import { epochBumpsMemo, packageCounts, type RebuildSummary } from '../domain/summary.js';
import {
  assembleSummary,
  countStatuses,
  splitIntoParts,
  statusWithEpochBump,
  withEpochBump,
  type CatalogRebuildResult,
  type RebuildCounts,
  type SummaryHeader,
  type SummaryPart,
} from '../domain/run-summary.js';
import { selectWork, type Selection } from '../domain/selection.js';
import { recordOutcomeMetrics, recordRunEnd, recordRunMetrics } from '../domain/metrics.js';
import { rethrown } from './failure.js';
import { epochBumpsAfterAbiBreaks } from './package-build.js';
import { imagesPhase, packagesPhase } from './rebuild-phases.js';
import { continuation, freshState, progressOf, rebuildOk, type RebuildContinuation } from './rebuild-state.js';
import { KILN_OUTCOME, KILN_STAGE } from './search-attributes.js';

/**
 * The one input object; `{}` rebuilds the whole default catalog. It chooses what to rebuild, never
 * how: no field switches off tests, scans, signing or verification, and an unknown field is refused.
 */
export interface RebuildInput {
  /**
   * Catalog directory on the worker (default: the worker's KILN_CATALOG, else the repo's catalog/).
   * Any directory but the configured catalog builds into staging (the snapshot decides), never production.
   */
  catalogDir?: string;
  /** Rebuild these packages, their reverse dependencies and the images that include any of them. */
  packages?: string[];
  /** Rebuild these images and what they need. */
  images?: string[];
  /**
   * Rebuild from scratch even what the repository holds (the named packages, or all) and compare the
   * new APKs with the published ones: "reproduced" or "not-reproducible". Published APKs never change.
   */
  force?: boolean;
  /** Rebuild only what failed or was blocked in that earlier run (by workflow id). */
  rerunFailedOf?: string;
}

const INPUT_FIELDS: Record<keyof RebuildInput, 'string' | 'boolean' | 'string[]'> = {
  catalogDir: 'string',
  packages: 'string[]',
  images: 'string[]',
  force: 'boolean',
  rerunFailedOf: 'string',
};

function hasType(value: unknown, want: 'string' | 'boolean' | 'string[]'): boolean {
  return want === 'string[]'
    ? Array.isArray(value) && value.every((v) => typeof v === 'string')
    : typeof value === want;
}

function validateInput(input: unknown): RebuildInput {
  if (input === null || input === undefined) return {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw invalidInput('catalogRebuild input must be a JSON object such as {} or {"images": ["hello"]}');
  }
  const problems: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    const want = INPUT_FIELDS[key as keyof RebuildInput];
    if (!want) problems.push(`${key}: unknown field (fix: use one of ${Object.keys(INPUT_FIELDS).join(', ')})`);
    else if (!hasType(value, want))
      problems.push(`${key}: must be a ${want === 'string[]' ? 'list of names' : want}, got ${JSON.stringify(value)}`);
  }
  if (problems.length) throw invalidInput(`invalid catalogRebuild input:\n${problems.join('\n')}`);
  return input as RebuildInput;
}

/** Live progress for the CLI and the Web UI's query tab: what each package and image is doing. */
export interface RebuildProgress {
  phase: 'snapshot' | 'packages' | 'images' | 'done';
  items: Record<string, 'waiting' | 'running' | 'done' | 'failed' | 'blocked'>;
}
export const progressQuery = defineQuery<RebuildProgress>('progress');

// The run report reads the run's histories (it heartbeats between batches); it never fails a run.
const { writeRunReport, finishRunSummary } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

const { snapshotCatalog, previousRunFailures, storeSummaryPart } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', maximumAttempts: 5 },
});

/** Outcomes per stored summary part: each part's payload stays far below Temporal's 2 MB limit. */
const OUTCOMES_PER_PART = 200;

/**
 * The nightly job: snapshot and validate the catalog, build its packages in dependency order,
 * then its images, and report every package and image. `carried` is for the rebuild itself: what
 * an earlier run of it finished, when it continued-as-new (never given by a person).
 */
export async function catalogRebuild(
  rawInput: RebuildInput = {},
  carried?: RebuildContinuation,
): Promise<CatalogRebuildResult> {
  const input = validateInput(rawInput);
  const info = workflowInfo();
  const progress: RebuildProgress = { phase: carried?.phase ?? 'snapshot', items: {} };
  setHandler(progressQuery, () => progress);
  // Runs started before summaries were stored replay as they ran: one run, the whole summary as result.
  const scalable = patched('continue-as-new');
  const state = carried ?? (await firstRun(input, info));
  const snapshot = state.snapshot;
  const work = { packages: new Set(state.work.packages), images: new Set(state.work.images) };
  const scoped: CatalogSnapshot = {
    ...snapshot,
    plan: {
      ...snapshot.plan,
      packages: snapshot.plan.packages.filter((p) => work.packages.has(p.name)),
      images: snapshot.plan.images.filter((i) => work.images.has(i.name)),
    },
  };
  const forced = new Set(state.forced);
  // Temporal's suggestion (the history grew long), once this run has finished a child: a run always moves on.
  let finishedHere = 0;
  const stop = scalable ? () => finishedHere > 0 && workflowInfo().continueAsNewSuggested : () => false;
  const ran: SummaryPart = { packages: [], images: [] };
  const target = snapshot.target?.kind ?? 'unknown';

  for (const p of scoped.plan.packages) {
    const done = state.packages[p.name];
    progress.items[`package ${p.name}`] = done ? progressOf(done.status) : 'waiting';
  }
  for (const i of scoped.plan.images) {
    const done = state.images[i.name];
    progress.items[`image ${i.name}`] = done ? progressOf(done) : 'waiting';
  }
  const track = (key: string) => ({
    start: () => {
      progress.items[key] = 'running';
    },
    end: (ok: boolean) => {
      progress.items[key] = ok ? 'done' : 'failed';
      finishedHere++;
    },
  });
  /** Stores this run's outcomes and continues-as-new with what is finished. */
  const continueRebuild = async (): Promise<never> => {
    recordOutcomeMetrics(metricMeter, target, ran);
    const parts = await storeParts(ran, info);
    // The memo the first run set (catalog digest, commit, target) goes on with the rebuild.
    const next = makeContinueAsNewFunc<typeof catalogRebuild>({ memo: workflowInfo().memo ?? {} });
    return next(input, continuation(state, info.runId, parts));
  };

  if (state.phase === 'packages') {
    progress.phase = 'packages';
    upsertSearchAttributes([{ key: KILN_STAGE, value: 'packages' }]);
    const phase = await packagesPhase(scoped, state, forced, info.workflowId, (n) => track(`package ${n}`), stop);
    ran.packages.push(...phase.outcomes);
    for (const p of phase.outcomes) if (p.status === 'blocked') progress.items[`package ${p.name}`] = 'blocked';
    if (!phase.complete) return continueRebuild();
    state.epochBumps = await epochBumpsAfterAbiBreaks(
      { snapshotDir: snapshot.dir, catalogDir: input.catalogDir, gitCommit: snapshot.gitCommit },
      snapshot.plan.packages,
      state.abiBreaks,
    );
    // Failed after its child finished: an epoch bump kiln could not commit.
    for (const [name, p] of Object.entries(state.packages)) {
      const status = statusWithEpochBump(name, p.status, state.epochBumps);
      if (status === p.status) continue;
      state.packages[name] = { status };
      progress.items[`package ${name}`] = 'failed';
    }
    ran.packages = ran.packages.map((p) => withEpochBump(p, state.epochBumps ?? []));
    state.phase = 'images';
    if (stop()) return continueRebuild();
  }
  progress.phase = 'images';
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'images' }]);
  const images = await imagesPhase(
    scoped,
    state,
    { workflowId: info.workflowId, catalogTime: state.catalogTime },
    Boolean(input.force),
    (n) => track(`image ${n}`),
    stop,
  );
  ran.images.push(...images.outcomes);
  for (const i of images.outcomes) if (i.status === 'blocked') progress.items[`image ${i.name}`] = 'blocked';
  if (!images.complete) return continueRebuild();
  progress.phase = 'done';

  const ok = rebuildOk(state);
  upsertSearchAttributes([
    { key: KILN_STAGE, value: 'done' },
    { key: KILN_OUTCOME, value: ok ? 'success' : 'failures' },
  ]);
  const epochBumps = state.epochBumps ?? [];
  const header: SummaryHeader = {
    workflowId: info.workflowId,
    runId: info.runId,
    catalogDigest: snapshot.digest,
    gitCommit: snapshot.gitCommit,
    ...(snapshot.target ? { target: snapshot.target } : {}),
    ...(snapshot.source ? { source: snapshot.source } : {}),
    startedAt: state.startedAt,
    finishedAt: new Date().toISOString(),
    ...(epochBumps.length ? { epochBumps } : {}),
    ok,
    ...(state.runs.length ? { continuedFrom: state.runs } : {}),
  };
  const counts: RebuildCounts = {
    packages: countStatuses(Object.values(state.packages).map((p) => p.status)),
    images: countStatuses(Object.values(state.images)),
  };
  const memo = {
    packages: packageCounts(Object.values(state.packages)),
    ...(epochBumps.length ? { epochBumps: epochBumpsMemo(epochBumps) } : {}),
    images: `${(counts.images.published ?? 0) + (counts.images.unchanged ?? 0)} published, ${(counts.images.failed ?? 0) + (counts.images.blocked ?? 0)} failed or blocked`,
  };
  if (!scalable) return legacySummary(assembleSummary(header, [ran]), memo);

  // kiln's run metrics (domain/metrics.ts), through the worker's Prometheus endpoint; not on replay.
  recordRunEnd(metricMeter, header);
  recordOutcomeMetrics(metricMeter, target, ran);
  const parts = [...state.parts, ...(await storeParts(ran, info))];
  const finished = await finishRunSummary({ header, parts });
  upsertMemo({ summary: finished.reference, ...(finished.report ? { report: finished.report.path } : {}), ...memo });
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    ok,
    summary: finished.reference,
    counts,
    runs: state.runs.length + 1,
    ...(finished.report ? { report: finished.report } : {}),
  };
}

/** The first run: snapshot (an invalid catalog fails the run), the selection, nothing finished. */
async function firstRun(input: RebuildInput, info: { runStartTime: Date }): Promise<RebuildContinuation> {
  const startedAt = new Date().toISOString();
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'snapshot' }]);
  // An invalid catalog fails the run itself, with the loader's list of problems as its message;
  // anything else (an unreachable artifact store, say) fails it under its own type.
  const snapshot = await snapshotCatalog({ catalogDir: input.catalogDir }).catch((err: unknown) => {
    throw rethrown(err, 'CatalogInvalid');
  });
  upsertMemo({
    catalogDigest: snapshot.digest,
    gitCommit: snapshot.gitCommit ?? null,
    target: snapshot.target
      ? snapshot.target.kind === 'production'
        ? 'production'
        : `staging ${snapshot.target.name} (unreviewed)`
      : null,
  });
  const work = await selectedWork(snapshot, input);
  const forced = input.force ? (input.packages?.length ? input.packages : work.packages) : [];
  return freshState(snapshot, work, forced, { startedAt, catalogTime: info.runStartTime.toISOString() });
}

/** This run's outcomes stored as summary parts (one activity per part); their references. */
async function storeParts(ran: SummaryPart, run: { workflowId: string; runId: string }): Promise<string[]> {
  const refs: string[] = [];
  for (const [index, part] of splitIntoParts(ran, OUTCOMES_PER_PART).entries())
    refs.push(await storeSummaryPart({ workflowId: run.workflowId, runId: run.runId, index, part }));
  return refs;
}

/** How a run that started before summaries were stored ends, as it did then: the whole summary as its result. */
async function legacySummary(summary: RebuildSummary, memo: Record<string, string>): Promise<RebuildSummary> {
  recordRunMetrics(metricMeter, summary);
  const report = patched('run-report') ? await writeRunReport({ summary }).catch(() => undefined) : undefined;
  if (report) summary.report = report;
  upsertMemo({ ...(report ? { report: report.path } : {}), ...memo });
  return summary;
}

/** The packages and images this run covers, from the input's selection or an earlier run's failures. */
async function selectedWork(
  snapshot: CatalogSnapshot,
  input: RebuildInput,
): Promise<{ packages: string[]; images: string[] }> {
  let selection: Selection = { packages: input.packages, images: input.images };
  if (input.rerunFailedOf) {
    const previous = await previousRunFailures({ workflowId: input.rerunFailedOf });
    if (previous.hasSummary) {
      if (!previous.packages.length && !previous.images.length) return { packages: [], images: [] };
      selection = { packages: previous.packages, images: previous.images };
    }
  }
  const work = selectWork(snapshot.plan, selection);
  if (work.unknown.length) {
    throw invalidInput(
      `invalid catalogRebuild input:\n${work.unknown.map((u) => `${u.field}: "${u.name}" is not in the catalog (fix: use one of ${(u.field === 'packages' ? snapshot.plan.packages : snapshot.plan.images).map((x) => x.name).join(', ')})`).join('\n')}`,
    );
  }
  return work;
}
