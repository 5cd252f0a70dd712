// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// catalogRebuild, the nightly run: snapshot and validate the catalog, build its packages in
// dependency order (a packageBuild child each), then its images (an imageBuild child each).
import {
  defineQuery,
  executeChild,
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
import {
  epochBumpsMemo,
  packageCounts,
  packageOk,
  type EpochBump,
  type ImageOutcome,
  type PackageOutcome,
  type RebuildSummary,
} from '../domain/summary.js';
import { selectWork, type Selection } from '../domain/selection.js';
import { recordRunMetrics } from '../domain/metrics.js';
import { runDag } from './dag.js';
import { failureMessage, rethrown } from './failure.js';
import { imageBuild, type ImageBuildWorkflowResult } from './image-build.js';
import {
  builtOutcome,
  epochBumpsAfterAbiBreaks,
  packageBuild,
  type PackageBuildWorkflowResult,
} from './package-build.js';
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
const { writeRunReport } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
});

const { snapshotCatalog, previousRunFailures } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', maximumAttempts: 5 },
});

/**
 * The nightly job: snapshot and validate the catalog, build its packages in dependency order,
 * then its images, and report every package and image.
 */
export async function catalogRebuild(rawInput: RebuildInput = {}): Promise<RebuildSummary> {
  const input = validateInput(rawInput);
  const info = workflowInfo();
  const startedAt = new Date().toISOString();
  const progress: RebuildProgress = { phase: 'snapshot', items: {} };
  setHandler(progressQuery, () => progress);
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
  const plan: CatalogSnapshot['plan'] = {
    ...snapshot.plan,
    packages: snapshot.plan.packages.filter((p) => work.packages.includes(p.name)),
    images: snapshot.plan.images.filter((i) => work.images.includes(i.name)),
  };
  const scoped = { ...snapshot, plan };
  const forced = input.force
    ? new Set(input.packages?.length ? input.packages : plan.packages.map((p) => p.name))
    : new Set<string>();

  for (const p of plan.packages) progress.items[`package ${p.name}`] = 'waiting';
  for (const i of plan.images) progress.items[`image ${i.name}`] = 'waiting';
  const track = (key: string) => ({
    start: () => {
      progress.items[key] = 'running';
    },
    end: (ok: boolean) => {
      progress.items[key] = ok ? 'done' : 'failed';
    },
  });

  progress.phase = 'packages';
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'packages' }]);
  const { packages, epochBumps } = await packagesPhase(
    scoped,
    { catalogDir: input.catalogDir, catalogPackages: snapshot.plan.packages },
    forced,
    info.workflowId,
    (n) => track(`package ${n}`),
  );
  // Blocked, or failed after its child finished (an epoch bump kiln could not commit).
  for (const p of packages)
    if (p.status === 'blocked' || p.status === 'failed') progress.items[`package ${p.name}`] = p.status;
  progress.phase = 'images';
  upsertSearchAttributes([{ key: KILN_STAGE, value: 'images' }]);
  const images = await imagesPhase(scoped, packages, info, Boolean(input.force), (n) => track(`image ${n}`));
  for (const i of images) if (i.status === 'blocked') progress.items[`image ${i.name}`] = 'blocked';
  progress.phase = 'done';

  const ok =
    packages.every(packageOk) &&
    epochBumps.every((b) => !b.error) &&
    images.every((i) => i.status === 'published' || i.status === 'unchanged');
  upsertSearchAttributes([
    { key: KILN_STAGE, value: 'done' },
    { key: KILN_OUTCOME, value: ok ? 'success' : 'failures' },
  ]);
  const summary: RebuildSummary = {
    workflowId: info.workflowId,
    runId: info.runId,
    catalogDigest: snapshot.digest,
    gitCommit: snapshot.gitCommit,
    ...(snapshot.target ? { target: snapshot.target } : {}),
    ...(snapshot.source ? { source: snapshot.source } : {}),
    startedAt,
    finishedAt: new Date().toISOString(),
    packages,
    images,
    ...(epochBumps.length ? { epochBumps } : {}),
    ok,
  };
  // kiln's run metrics (domain/metrics.ts), through the worker's Prometheus endpoint; not on replay.
  recordRunMetrics(metricMeter, summary);
  const report = patched('run-report') ? await writeRunReport({ summary }).catch(() => undefined) : undefined;
  if (report) summary.report = report;
  upsertMemo({
    ...(report ? { report: report.path } : {}),
    packages: packageCounts(packages),
    ...(epochBumps.length ? { epochBumps: epochBumpsMemo(epochBumps) } : {}),
    images: `${images.filter((i) => i.status === 'published' || i.status === 'unchanged').length} published, ${images.filter((i) => i.status === 'failed' || i.status === 'blocked').length} failed or blocked`,
  });
  return summary;
}

type Tracker = (name: string) => { start(): void; end(ok: boolean): void };

/** Runs children while timing each and keeping the live progress current. */
function timedChildren(track: Tracker) {
  const durations = new Map<string, number>();
  return {
    durationOf: (name: string) => durations.get(name) ?? 0,
    async run<T>(name: string, child: () => Promise<T>): Promise<T> {
      const started = Date.now();
      let ok = false;
      track(name).start();
      try {
        const result = await child();
        ok = true;
        return result;
      } finally {
        durations.set(name, Date.now() - started);
        track(name).end(ok);
      }
    },
  };
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

async function packagesPhase(
  snapshot: CatalogSnapshot,
  run: { catalogDir?: string; catalogPackages: { name: string; epoch: number }[] },
  forced: Set<string>,
  parentId: string,
  track: Tracker,
): Promise<{ packages: PackageOutcome[]; epochBumps: EpochBump[] }> {
  const children = timedChildren(track);
  // A package's own archs (its target-architecture), else the catalog's; a plan recorded before
  // packages had archs has none, and builds for the catalog's as it did.
  const archsOf = new Map(snapshot.plan.packages.map((p) => [p.name, p.archs ?? snapshot.archs]));
  const outcomes = await runDag<PackageBuildWorkflowResult>(
    snapshot.plan.packages.map((p) => ({ name: p.name, dependsOn: p.dependsOn })),
    snapshot.concurrency.packages,
    (name, deps) =>
      children.run(name, () =>
        executeChild(packageBuild, {
          workflowId: `${parentId}/package/${name}`,
          args: [
            {
              snapshotDir: snapshot.dir,
              name,
              archs: archsOf.get(name)!,
              dependencyDigests: Object.fromEntries([...deps].map(([dep, r]) => [dep, r.inputDigests])),
              force: forced.has(name),
              ...(snapshot.target ? { packageRepository: snapshot.target.packageRepository } : {}),
            },
          ],
        }),
      ),
  );
  const built = [...outcomes.values()].flatMap((o) => (o.kind === 'ok' ? [o.value] : []));
  const epochBumps = await epochBumpsAfterAbiBreaks(
    { snapshotDir: snapshot.dir, catalogDir: run.catalogDir, gitCommit: snapshot.gitCommit },
    run.catalogPackages,
    built,
  );
  const bumpOf = (name: string) => epochBumps.find((b) => b.packages.some((p) => p.name === name));
  const packages = snapshot.plan.packages.map((p): PackageOutcome => {
    const o = outcomes.get(p.name)!;
    const durationMs = children.durationOf(p.name);
    const base = { name: p.name, version: p.version, epoch: p.epoch, durationMs };
    const bump = bumpOf(p.name);
    // Its published build links a soname that is gone, and kiln could not record the new epoch.
    if (bump?.error && o.kind === 'ok') return { ...base, status: 'failed', error: bump.error };
    switch (o.kind) {
      case 'ok':
        return builtOutcome(base, o.value, bump);
      case 'failed':
        return { ...base, status: 'failed', error: failureMessage(o.error) };
      case 'blocked':
        return { ...base, status: 'blocked', blockedBy: o.by, durationMs: 0 };
    }
  });
  return { packages, epochBumps };
}

async function imagesPhase(
  snapshot: CatalogSnapshot,
  packages: PackageOutcome[],
  run: { workflowId: string; runStartTime: Date },
  force: boolean,
  track: Tracker,
): Promise<ImageOutcome[]> {
  const failed = new Map(
    packages.filter((p) => p.status === 'failed' || p.status === 'blocked').map((p) => [p.name, p.blockedBy ?? p.name]),
  );
  const children = timedChildren(track);
  const byName = new Map(snapshot.plan.images.map((i) => [i.name, i]));
  const outcomes = await runDag<ImageBuildWorkflowResult>(
    snapshot.plan.images.map((i) => ({ name: i.name, dependsOn: [] })),
    snapshot.concurrency.images,
    async (name) => {
      const image = byName.get(name)!;
      const brokenPackage = image.packages.find((p) => failed.has(p));
      if (brokenPackage) throw new BlockedImage(failed.get(brokenPackage)!);
      return children.run(name, () =>
        executeChild(imageBuild, {
          workflowId: `${run.workflowId}/image/${name}`,
          args: [
            {
              snapshotDir: snapshot.dir,
              name,
              repository: `${snapshot.registry}/${name}`,
              tags: image.tags,
              gitCommit: snapshot.gitCommit,
              // This run's place in the order of runs: a tag never moves back to an older run's image.
              catalogTime: run.runStartTime.toISOString(),
              // force: the whole pipeline, even for an image whose inputs are unchanged.
              ...(force ? { force } : {}),
            },
          ],
        }),
      );
    },
  );
  return snapshot.plan.images.map((i): ImageOutcome => {
    const o = outcomes.get(i.name)!;
    const durationMs = children.durationOf(i.name);
    if (o.kind === 'ok') {
      return {
        name: i.name,
        status: o.value.changed ? 'published' : 'unchanged',
        reference: o.value.reference,
        digest: o.value.digest,
        tags: o.value.tags,
        packages: o.value.packages,
        durationMs,
        scanned: o.value.scanned,
        vulnerabilities: o.value.vulnerabilities,
        ...(o.value.tagsKept.length ? { tagsKept: o.value.tagsKept } : {}),
        ...(o.value.sizeBytes !== undefined ? { sizeBytes: o.value.sizeBytes } : {}),
        ...(o.value.inputsUnchanged ? { inputsUnchanged: true } : {}),
        ...(o.value.diff.previous && o.value.diff.previous !== o.value.digest
          ? {
              diff: {
                previous: o.value.diff.previous,
                sizeDelta: o.value.diff.sizeChange.uncompressed.delta,
                added: o.value.diff.added.map((p) => p.name),
                removed: o.value.diff.removed.map((p) => p.name),
                changed: o.value.diff.changed.map((p) => p.name),
              },
            }
          : {}),
      };
    }
    if (o.kind === 'failed' && o.error instanceof BlockedImage)
      return { name: i.name, status: 'blocked', blockedBy: o.error.by, tags: i.tags, durationMs: 0 };
    return {
      name: i.name,
      status: 'failed',
      error: failureMessage(o.kind === 'failed' ? o.error : o.by),
      tags: i.tags,
      durationMs,
    };
  });
}

/** An image that needs a package that failed: not attempted. */
class BlockedImage extends Error {
  constructor(readonly by: string) {
    super(`blocked by ${by}`);
  }
}
