// catalogRebuild's orchestration on Temporal's local test server with fake activities (fakes.ts):
// what blocks what, how many packages build at once, what a selection covers and where `force`
// goes, each checked in the run summary a person reads. Every run's history is then replayed on
// the same workflow code to prove the workflows deterministic.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError, type HistoryAndWorkflowId } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  catalogRebuild,
  progressQuery,
  type RebuildInput,
  type RebuildProgress,
} from '../../../workflows/catalog-rebuild.js';
import type { ImageOutcome, PackageOutcome, RebuildSummary } from '../../../domain/summary.js';
import {
  fakeDigest,
  fakeSnapshot,
  FakePipeline,
  routedActivities,
  type FakeCatalogSpec,
  type FakeOptions,
} from './fakes.js';
import { startWorkflowTestEnv, type WorkflowTestEnv } from './temporal.js';

/** Each run's fakes, by its workflow id; its children's activities find them by the id's prefix. */
const pipelines = new Map<string, FakePipeline>();
function pipelineOf(workflowId: string): FakePipeline {
  const fakes = pipelines.get(workflowId.split('/')[0]!);
  if (!fakes) throw new Error(`fake: no pipeline for workflow ${workflowId}`);
  return fakes;
}

let t: WorkflowTestEnv;
beforeAll(async () => {
  t = await startWorkflowTestEnv(routedActivities(pipelineOf));
}, 60_000);
afterAll(async () => t?.teardown());

/** Workflow ids of every run (parents and the children they started), replayed at the end. */
const ran: string[] = [];
let runs = 0;

interface Run {
  fakes: FakePipeline;
  summary?: RebuildSummary;
  progress?: RebuildProgress;
  error?: WorkflowFailedError;
}

/**
 * Runs catalogRebuild on a fake catalog to its end; `during` runs alongside (to release held
 * builds). A failed run is returned as `error`, not thrown.
 */
async function rebuild(
  catalog: FakeCatalogSpec,
  input: unknown,
  options: FakeOptions = {},
  during?: (fakes: FakePipeline) => Promise<void>,
): Promise<Run> {
  const fakes = new FakePipeline(fakeSnapshot(catalog), options);
  const workflowId = `rebuild-${++runs}`;
  pipelines.set(workflowId, fakes);
  const handle = await t.env.client.workflow.start(catalogRebuild, {
    taskQueue: t.taskQueue,
    workflowId,
    args: [input as RebuildInput],
    // A stuck workflow fails its test (with Temporal's timeout, before the test's own) instead of
    // hanging it; generous, as some twenty runs share the local server and two busy cores.
    workflowExecutionTimeout: '50 seconds',
  });
  ran.push(workflowId);
  try {
    const [result] = await Promise.all([handle.result(), during?.(fakes).finally(() => fakes.releaseAll())]);
    const summary = fakes.summaryOf(result);
    for (const p of summary.packages) if (p.status !== 'blocked') ran.push(`${workflowId}/package/${p.name}`);
    for (const i of summary.images) if (i.status !== 'blocked') ran.push(`${workflowId}/image/${i.name}`);
    return { fakes, summary, progress: await handle.query(progressQuery) };
  } catch (error) {
    if (error instanceof WorkflowFailedError) return { fakes, error };
    throw error;
  }
}

const byName = <T extends { name: string }>(items: T[]): Record<string, T> =>
  Object.fromEntries(items.map((i) => [i.name, i]));
const statuses = (items: (PackageOutcome | ImageOutcome)[]) => Object.fromEntries(items.map((i) => [i.name, i.status]));

/** Resolves with the promise, or fails naming what did not happen in time. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} (waited ${ms} ms)`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The failure a run ended with, as `kiln rebuild` shows it: type and message. */
function failureOf(run: Run): { type?: string; message: string } {
  expect(run.error, 'the run should have failed').toBeInstanceOf(WorkflowFailedError);
  const cause = run.error!.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return { type: (cause as ApplicationFailure).type ?? undefined, message: cause!.message };
}

// Every run below is independent (own workflow id, own fakes): they run at once, as a worker would.
describe.concurrent('catalogRebuild', { timeout: 60_000 }, () => {
  describe('a failing package', () => {
    // broken fails; mid needs broken, top needs mid; side and solo do not need it.
    const catalog: FakeCatalogSpec = {
      packages: { base: [], broken: ['base'], mid: ['broken'], top: ['mid'], side: ['base'], solo: [] },
      images: { 'top-image': ['top', 'mid', 'broken', 'base'], 'side-image': ['side', 'base'], 'solo-image': ['solo'] },
      concurrency: { packages: 2, images: 1 },
    };
    let run: Run;
    beforeAll(async () => {
      run = await rebuild(catalog, {}, { failing: ['broken'] });
    });

    it('is reported failed with the build error, and the run is not ok', () => {
      const broken = byName(run.summary!.packages).broken!;
      expect(broken.status).toBe('failed');
      expect(broken.error).toMatch(/melange build of broken failed/);
      expect(run.summary!.ok).toBe(false);
    });

    it('blocks its direct and indirect dependents, which never start', () => {
      const packages = byName(run.summary!.packages);
      expect(packages.mid).toMatchObject({ status: 'blocked', blockedBy: 'broken' });
      expect(packages.top).toMatchObject({ status: 'blocked', blockedBy: 'broken' });
      expect(run.fakes.built).not.toContain('mid');
      expect(run.fakes.built).not.toContain('top');
    });

    it('does not stop the independent branches', () => {
      expect(statuses(run.summary!.packages)).toEqual({
        base: 'built',
        broken: 'failed',
        mid: 'blocked',
        side: 'built',
        solo: 'built',
        top: 'blocked',
      });
      expect([...run.fakes.built].sort()).toEqual(['base', 'broken', 'side', 'solo']);
    });

    it('blocks the images that need it and publishes the images of healthy packages', () => {
      const images = byName(run.summary!.images);
      expect(images['top-image']).toMatchObject({ status: 'blocked', blockedBy: 'broken', tags: ['latest'] });
      expect(images['side-image']).toMatchObject({
        status: 'published',
        reference: `registry.test/kiln/side-image@${fakeDigest('side-image')}`,
        tags: ['latest'],
        packages: ['side-1.0.0-r0', 'base-1.0.0-r0'],
      });
      expect(images['solo-image']!.status).toBe('published');
      expect([...run.fakes.assembled].sort()).toEqual(['side-image', 'solo-image']);
    });

    it('shows failed and blocked items in the live progress', () => {
      expect(run.progress).toMatchObject({
        phase: 'done',
        items: {
          'package broken': 'failed',
          'package mid': 'blocked',
          'package top': 'blocked',
          'package side': 'done',
          'image top-image': 'blocked',
          'image side-image': 'done',
        },
      });
    });
  });

  describe('the sliding window', () => {
    it.each([2, 3])('never runs more than concurrency.packages = %i packages at once, and fills it', async (limit) => {
      const catalog: FakeCatalogSpec = {
        // Four independent packages fill any window up to 4; q1 and q2 wait on some of them.
        packages: { p1: [], p2: [], p3: [], p4: [], q1: ['p1'], q2: ['q1', 'p4'] },
        concurrency: { packages: limit, images: 1 },
      };
      const run = await rebuild(catalog, {}, { buildMs: 50 });
      expect(run.summary!.packages.every((p) => p.status === 'built')).toBe(true);
      expect(run.fakes.maxRunning).toBe(limit);
    });

    it('starts a package as soon as what it needs is built, without waiting for the rest of its level', async () => {
      // fast and slow both start; next needs only fast. While slow is still building, fast finishes
      // and next must start at once: a level-by-level barrier would wait for slow.
      const catalog: FakeCatalogSpec = {
        packages: { fast: [], next: ['fast'], slow: [] },
        concurrency: { packages: 2, images: 1 },
      };
      let slowRunningWhenNextStarted = false;
      const run = await rebuild(catalog, {}, { held: ['fast', 'slow'] }, async (fakes) => {
        await within(
          Promise.all([fakes.started('fast'), fakes.started('slow')]),
          10_000,
          'fast and slow did not both start',
        );
        expect(fakes.built).not.toContain('next');
        fakes.release('fast');
        await within(fakes.started('next'), 10_000, 'next did not start while slow was building');
        slowRunningWhenNextStarted = fakes.running.has('slow');
        fakes.release('slow');
      });
      expect(slowRunningWhenNextStarted).toBe(true);
      expect(statuses(run.summary!.packages)).toEqual({ fast: 'built', next: 'built', slow: 'built' });
      expect(run.fakes.events.indexOf('start next')).toBeLessThan(run.fakes.events.indexOf('end slow'));
    });
  });

  describe('selection', () => {
    // lib and app changed; everything else is in the repository already.
    const catalog: FakeCatalogSpec = {
      packages: { base: [], lib: ['base'], app: ['lib'], tool: ['base'], other: [] },
      images: { 'app-image': ['app', 'lib', 'base'], 'tool-image': ['tool', 'base'], 'other-image': ['other'] },
    };
    const published = ['base', 'tool', 'other'];

    it('{packages: [lib]} rebuilds lib, its reverse dependencies and the images that include them, nothing else', async () => {
      const run = await rebuild(catalog, { packages: ['lib'] }, { published });
      // base is what lib builds against: checked and reported up to date, not rebuilt.
      expect(statuses(run.summary!.packages)).toEqual({ app: 'built', base: 'up-to-date', lib: 'built' });
      expect(statuses(run.summary!.images)).toEqual({ 'app-image': 'published' });
      expect([...run.fakes.built].sort()).toEqual(['app', 'base', 'lib']);
      expect(run.fakes.assembled).toEqual(['app-image']);
      // app builds after lib, against lib's input digest.
      expect(run.fakes.events.indexOf('start app')).toBeGreaterThan(run.fakes.events.indexOf('end lib'));
      expect(run.fakes.builds.find((b) => b.name === 'app')!.dependencyDigests).toEqual({
        lib: fakeDigest('lib/x86_64'),
      });
      expect(run.summary!.ok).toBe(true);
    });

    it('{images: [tool-image]} rebuilds that image and the packages it needs, nothing else', async () => {
      const run = await rebuild(catalog, { images: ['tool-image'] }, { published });
      expect(statuses(run.summary!.packages)).toEqual({ base: 'up-to-date', tool: 'up-to-date' });
      expect(statuses(run.summary!.images)).toEqual({ 'tool-image': 'published' });
      expect(run.fakes.assembled).toEqual(['tool-image']);
    });

    it.each([
      [
        'packages',
        { packages: ['lib', 'nope'] },
        /packages: "nope" is not in the catalog.*app, base, lib, other, tool/,
      ],
      [
        'images',
        { images: ['nope-image'] },
        /images: "nope-image" is not in the catalog.*app-image, other-image, tool-image/,
      ],
    ])('an unknown name in %s fails the run with InvalidInput naming the field', async (_field, input, message) => {
      const run = await rebuild(catalog, input, { published });
      const failure = failureOf(run);
      expect(failure.type).toBe('InvalidInput');
      expect(failure.message).toMatch(message);
      expect(run.fakes.built).toEqual([]);
    });

    it.each([
      ['a string for packages', { packages: 'lib' }, /packages: must be a list of names/],
      ['a number in images', { images: ['app-image', 7] }, /images: must be a list of names/],
      ['a string for force', { force: 'yes' }, /force: must be a boolean/],
      ['an unknown field', { colour: 'red' }, /colour: unknown field/],
      // An input chooses what to rebuild, never how: nothing switches a check off or picks a target.
      ['skipTests', { skipTests: true }, /skipTests: unknown field/],
      ['skipScan', { packages: ['lib'], skipScan: true }, /skipScan: unknown field/],
      ['noSign', { noSign: true, noVerify: true }, /noSign: unknown field[^]*noVerify: unknown field/],
      ['a chosen target', { target: 'production' }, /target: unknown field/],
      ['a chosen registry', { registry: '127.0.0.1:5000/mine' }, /registry: unknown field/],
      ['a list instead of an object', ['lib'], /must be a JSON object/],
      ['a bare string', 'lib', /must be a JSON object/],
    ])('%s fails the run with InvalidInput', async (_what, input, message) => {
      const run = await rebuild(catalog, input, { published });
      const failure = failureOf(run);
      expect(failure.type).toBe('InvalidInput');
      expect(failure.message).toMatch(message);
      expect(run.fakes.built).toEqual([]);
    });
  });

  describe('archs', () => {
    it('builds each package for its own archs (its target-architecture), the rest for the catalog’s', async () => {
      const run = await rebuild(
        {
          packages: { base: [], tool: ['base'], app: ['tool'] },
          archs: ['x86_64', 'aarch64'],
          packageArchs: { tool: ['x86_64'], app: ['x86_64'] },
        },
        {},
      );
      const archs = (name: string) =>
        run.fakes.builds
          .filter((b) => b.name === name)
          .map((b) => b.arch)
          .sort();
      expect(archs('base')).toEqual(['aarch64', 'x86_64']);
      expect(archs('tool')).toEqual(['x86_64']);
      expect(archs('app')).toEqual(['x86_64']);
      expect(statuses(run.summary!.packages)).toEqual({ app: 'built', base: 'built', tool: 'built' });
    });
  });

  describe('force', () => {
    // No images: force is about packages, and image runs would only make the test slower.
    const catalog: FakeCatalogSpec = { packages: { base: [], lib: ['base'], app: ['lib'] } };
    const published = ['base', 'lib', 'app'];
    const forceOf = (run: Run) => Object.fromEntries(run.fakes.builds.map((b) => [b.name, b.force]));

    it('with packages reaches buildPackage for the named packages only', async () => {
      const run = await rebuild(catalog, { packages: ['lib'], force: true }, { published });
      expect(forceOf(run)).toEqual({ base: false, lib: true, app: false });
      expect(statuses(run.summary!.packages)).toEqual({ app: 'up-to-date', base: 'up-to-date', lib: 'built' });
    });

    it('alone reaches buildPackage for every package', async () => {
      const run = await rebuild(catalog, { force: true }, { published });
      expect(forceOf(run)).toEqual({ base: true, lib: true, app: true });
      expect(statuses(run.summary!.packages)).toEqual({ app: 'built', base: 'built', lib: 'built' });
    });

    it('is off unless asked for', async () => {
      const run = await rebuild(catalog, {}, { published });
      expect(forceOf(run)).toEqual({ base: false, lib: false, app: false });
      expect(statuses(run.summary!.packages)).toEqual({ app: 'up-to-date', base: 'up-to-date', lib: 'up-to-date' });
    });
  });
});

describe('replay', () => {
  it("replays every run's history above (parents and children) without a nondeterminism error", async () => {
    expect(ran.length).toBeGreaterThan(20);
    const histories: HistoryAndWorkflowId[] = await Promise.all(
      ran.map(async (workflowId) => ({
        workflowId,
        history: await t.env.client.workflow.getHandle(workflowId).fetchHistory(),
      })),
    );
    expect(await t.replay(histories)).toEqual([]);
  });
});
