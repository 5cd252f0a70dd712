// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// catalogRebuild's two phases: a packageBuild child per package in dependency order, then an
// imageBuild child per image. Each starts only what earlier runs of the rebuild did not finish
// (the carried state), records what it finishes there, and stops starting children when `stop`
// says so (the run continues-as-new once the running ones are done).
import { executeChild, patched, proxyActivities } from '@temporalio/workflow';
import type { CatalogSnapshot, KilnActivities, UnchangedImage } from '../activities/index.js';
import type { ImageOutcome, PackageOutcome } from '../domain/summary.js';
import { runDag, type Outcome } from './dag.js';
import { failureMessage } from './failure.js';
import { imageBuild, type ImageBuildWorkflowResult } from './image-build.js';
import { builtOutcome, packageBuild, type PackageBuildWorkflowResult } from './package-build.js';
import { hasAbiBreak, type FinishedPackage, type RebuildContinuation } from './rebuild-state.js';

export type Tracker = (name: string) => { start(): void; end(ok: boolean): void };

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

/** What a package's dependents need of it: its input digests (and, built in this run, its result). */
interface Built {
  inputDigests: Record<string, string>;
  result?: PackageBuildWorkflowResult;
}

function carriedOutcome(p: FinishedPackage): Outcome<Built> {
  if (p.status === 'failed') return { kind: 'failed', error: p.status };
  if (p.status === 'blocked') return { kind: 'blocked', by: p.blockedBy ?? '?' };
  return { kind: 'ok', value: { inputDigests: p.inputDigests ?? {} } };
}

/** A phase's outcomes finished in this run; `complete` when nothing of the phase is left. */
export interface PhaseRun<O> {
  outcomes: O[];
  complete: boolean;
}

/**
 * A packageBuild child for each package no earlier run finished, as soon as its build dependencies
 * are done. The outcomes carry no epoch bump yet: those are known once the whole phase is over.
 */
export async function packagesPhase(
  snapshot: CatalogSnapshot,
  state: RebuildContinuation,
  forced: Set<string>,
  parentId: string,
  track: Tracker,
  stop: () => boolean,
): Promise<PhaseRun<PackageOutcome>> {
  const children = timedChildren(track);
  // A package's own archs (its target-architecture), else the catalog's; a plan recorded before
  // packages had archs has none, and builds for the catalog's as it did.
  const archsOf = new Map(snapshot.plan.packages.map((p) => [p.name, p.archs ?? snapshot.archs]));
  const finished = new Map(Object.entries(state.packages).map(([name, p]) => [name, carriedOutcome(p)]));
  const outcomes = await runDag<Built>(
    snapshot.plan.packages.map((p) => ({ name: p.name, dependsOn: p.dependsOn })),
    snapshot.concurrency.packages,
    (name, deps) =>
      children.run(name, async () => {
        const result = await executeChild(packageBuild, {
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
        });
        return { inputDigests: result.inputDigests, result };
      }),
    { finished, stop },
  );
  const ran: PackageOutcome[] = [];
  for (const p of snapshot.plan.packages) {
    const o = outcomes.get(p.name);
    // Finished by an earlier run, or not started in this one (the next run starts it).
    if (finished.has(p.name) || !o) continue;
    const base = { name: p.name, version: p.version, epoch: p.epoch, durationMs: children.durationOf(p.name) };
    if (o.kind === 'ok') {
      const r = o.value.result!;
      ran.push(builtOutcome(base, r, undefined));
      state.packages[p.name] = { status: r.status, inputDigests: r.inputDigests };
      if (hasAbiBreak(r)) state.abiBreaks.push(r);
    } else if (o.kind === 'failed') {
      ran.push({ ...base, status: 'failed', error: failureMessage(o.error) });
      state.packages[p.name] = { status: 'failed' };
    } else {
      ran.push({ ...base, status: 'blocked', blockedBy: o.by, durationMs: 0 });
      state.packages[p.name] = { status: 'blocked', blockedBy: o.by };
    }
  }
  return { outcomes: ran, complete: snapshot.plan.packages.every((p) => state.packages[p.name]) };
}

const { unchangedImages } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  // Only a registry outage fails the check (a verdict on one image is its imageBuild's to report).
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
});

/** Images checked by one unchangedImages activity: its answer stays far below Temporal's payload limit. */
const UNCHANGED_CHECK_BATCH = 50;

/**
 * The images among `images` whose published image was built from the same inputs and verifies:
 * checked in batches, before any child starts, so a night where nothing changed starts none.
 */
async function unchangedOf(
  snapshot: CatalogSnapshot,
  images: { name: string; tags: string[] }[],
): Promise<Map<string, UnchangedImage>> {
  const known = new Map<string, UnchangedImage>();
  for (let i = 0; i < images.length; i += UNCHANGED_CHECK_BATCH) {
    const { unchanged } = await unchangedImages({
      snapshotDir: snapshot.dir,
      images: images
        .slice(i, i + UNCHANGED_CHECK_BATCH)
        .map((image) => ({ name: image.name, repository: `${snapshot.registry}/${image.name}`, tags: image.tags })),
    });
    for (const u of unchanged) known.set(u.name, u);
  }
  return known;
}

/** What imageBuild answers for an image whose inputs are unchanged, from the batch check. */
function unchangedResult(u: UnchangedImage, tags: string[]): ImageBuildWorkflowResult {
  return {
    name: u.name,
    digest: u.digest,
    reference: u.reference,
    tags,
    changed: false,
    packages: u.packages,
    diff: { previous: null },
    scanned: u.scanned,
    vulnerabilities: u.vulnerabilities,
    tagsKept: [],
    inputsUnchanged: true,
  };
}

/**
 * An imageBuild child for each image no earlier run finished and whose inputs changed (or every
 * one, with `force`); one whose package failed is blocked.
 */
export async function imagesPhase(
  snapshot: CatalogSnapshot,
  state: RebuildContinuation,
  run: { workflowId: string; catalogTime: string },
  force: boolean,
  track: Tracker,
  stop: () => boolean,
): Promise<PhaseRun<ImageOutcome>> {
  const failed = new Map(
    Object.entries(state.packages).flatMap(([name, p]) =>
      p.status === 'failed' || p.status === 'blocked' ? [[name, p.blockedBy ?? name] as const] : [],
    ),
  );
  const children = timedChildren(track);
  const byName = new Map(snapshot.plan.images.map((i) => [i.name, i]));
  const todo = snapshot.plan.images.filter((i) => !state.images[i.name]);
  // Histories started before the batch check existed replay without it (each child checked alone).
  const unchanged =
    !force && patched('unchanged-images-batch')
      ? await unchangedOf(
          snapshot,
          todo.filter((i) => !i.packages.some((p) => failed.has(p))),
        )
      : new Map<string, UnchangedImage>();
  const outcomes = await runDag<ImageBuildWorkflowResult>(
    todo.map((i) => ({ name: i.name, dependsOn: [] })),
    snapshot.concurrency.images,
    async (name) => {
      const image = byName.get(name)!;
      const brokenPackage = image.packages.find((p) => failed.has(p));
      if (brokenPackage) throw new BlockedImage(failed.get(brokenPackage)!);
      const known = unchanged.get(name);
      if (known) return children.run(name, () => Promise.resolve(unchangedResult(known, image.tags)));
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
              // This rebuild's place in the order of runs: a tag never moves back to an older run's image.
              catalogTime: run.catalogTime,
              // force: the whole pipeline, even for an image whose inputs are unchanged.
              ...(force ? { force } : {}),
            },
          ],
        }),
      );
    },
    { stop },
  );
  const ran: ImageOutcome[] = [];
  for (const i of snapshot.plan.images) {
    const o = outcomes.get(i.name);
    if (!o) continue;
    const outcome = imageOutcome(i, o, children.durationOf(i.name));
    state.images[i.name] = outcome.status;
    ran.push(outcome);
  }
  return { outcomes: ran, complete: snapshot.plan.images.every((i) => state.images[i.name]) };
}

function imageOutcome(
  i: { name: string; tags: string[] },
  o: Outcome<ImageBuildWorkflowResult>,
  durationMs: number,
): ImageOutcome {
  if (o.kind === 'ok') {
    const v = o.value;
    return {
      name: i.name,
      status: v.changed ? 'published' : 'unchanged',
      reference: v.reference,
      digest: v.digest,
      tags: v.tags,
      packages: v.packages,
      durationMs,
      scanned: v.scanned,
      vulnerabilities: v.vulnerabilities,
      ...(v.tagsKept.length ? { tagsKept: v.tagsKept } : {}),
      ...(v.sizeBytes !== undefined ? { sizeBytes: v.sizeBytes } : {}),
      ...(v.inputsUnchanged ? { inputsUnchanged: true } : {}),
      ...(v.diff.previous && v.diff.previous !== v.digest
        ? {
            diff: {
              previous: v.diff.previous,
              sizeDelta: v.diff.sizeChange.uncompressed.delta,
              added: v.diff.added.map((p) => p.name),
              removed: v.diff.removed.map((p) => p.name),
              changed: v.diff.changed.map((p) => p.name),
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
}

/** An image that needs a package that failed: not attempted. */
class BlockedImage extends Error {
  constructor(readonly by: string) {
    super(`blocked by ${by}`);
  }
}
