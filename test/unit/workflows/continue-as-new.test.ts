// catalogRebuild at any catalog size, on Temporal's local dev server with fake activities (fakes.ts):
// this file's server suggests continue-as-new after a few dozen history events (Temporal's own
// dynamic config `limit.historyCount.suggestContinueAsNew`), so a rebuild of a small fake catalog
// takes several runs. Checked: every package and image runs exactly once across the runs, what a
// package builds against reaches it from an earlier run, the summary is whole, the result is a
// reference and counts, and every run's history replays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { isSummaryReference, type CatalogRebuildResult } from '../../../domain/run-summary.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { fakeDigest, fakeSnapshot, FakePipeline, routedActivities, type FakeCatalogSpec } from './fakes.js';
import { startWorkflowTestEnv, type WorkflowTestEnv } from './temporal.js';

const SUGGEST_AFTER_EVENTS = 40;

const pipelines = new Map<string, FakePipeline>();
let t: WorkflowTestEnv;
beforeAll(async () => {
  t = await startWorkflowTestEnv(
    routedActivities((workflowId) => pipelines.get(workflowId.split('/')[0]!)!),
    { serverArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_AFTER_EVENTS}`] },
  );
}, 60_000);
afterAll(async () => t?.teardown());

// A chain (each builds against the one before) beside independent packages, and images over them.
const chain = ['c01', 'c02', 'c03', 'c04', 'c05', 'c06'];
const catalog: FakeCatalogSpec = {
  packages: {
    ...Object.fromEntries(chain.map((n, i) => [n, i ? [chain[i - 1]!] : []])),
    ...Object.fromEntries(['s01', 's02', 's03', 's04', 's05', 's06', 's07', 's08'].map((n) => [n, []])),
    broken: [],
    'needs-broken': ['broken'],
  },
  images: {
    ...Object.fromEntries(['i01', 'i02', 'i03', 'i04', 'i05', 'i06', 'i07', 'i08'].map((n) => [n, ['c06', 's01']])),
    'i-blocked': ['needs-broken'],
  },
  concurrency: { packages: 2, images: 2 },
};

describe('catalogRebuild when Temporal suggests continue-as-new', () => {
  const workflowId = 'continued-1';
  let fakes: FakePipeline;
  let result: CatalogRebuildResult;
  let summary: RebuildSummary;
  const runIds: string[] = [];

  beforeAll(async () => {
    fakes = new FakePipeline(fakeSnapshot(catalog), { failing: ['broken'] });
    pipelines.set(workflowId, fakes);
    const handle = await t.env.client.workflow.start(catalogRebuild, {
      taskQueue: t.taskQueue,
      workflowId,
      args: [{}],
      workflowExecutionTimeout: '60 seconds',
    });
    result = await handle.result();
    summary = fakes.summaryOf(result);
    for await (const run of t.env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      runIds.push(run.runId);
  }, 90_000);

  it('took several runs, each continued-as-new from the one before', () => {
    expect(isSummaryReference(result)).toBe(true);
    if (!isSummaryReference(result)) return;
    expect(result.runs).toBeGreaterThan(2);
    expect(runIds).toHaveLength(result.runs);
    expect(summary.continuedFrom).toHaveLength(result.runs - 1);
    expect(summary.runId).toBe(result.runId);
  });

  it('built every package exactly once across the runs, and never one whose build dependency failed', () => {
    const counts = new Map<string, number>();
    for (const name of fakes.built) counts.set(name, (counts.get(name) ?? 0) + 1);
    const everyBuilt = Object.keys(catalog.packages).filter((n) => n !== 'needs-broken');
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(everyBuilt.map((n) => [n, 1])));
  });

  it('passed each package the input digests of what it builds against, also from an earlier run', () => {
    for (const [i, name] of chain.entries()) {
      const build = fakes.builds.find((b) => b.name === name)!;
      expect(build.dependencyDigests).toEqual(i ? { [chain[i - 1]!]: fakeDigest(`${chain[i - 1]}/x86_64`) } : {});
    }
  });

  it('assembled every image exactly once, and none whose package failed', () => {
    expect([...fakes.assembled].sort()).toEqual(['i01', 'i02', 'i03', 'i04', 'i05', 'i06', 'i07', 'i08']);
  });

  it('reports every package and image in one summary, in name order', () => {
    const packages = Object.fromEntries(summary.packages.map((p) => [p.name, p.status]));
    expect(packages).toMatchObject({ broken: 'failed', 'needs-broken': 'blocked', c06: 'built', s08: 'built' });
    expect(summary.packages.map((p) => p.name)).toEqual(Object.keys(catalog.packages).sort());
    expect(summary.images.map((i) => [i.name, i.status])).toEqual([
      ['i-blocked', 'blocked'],
      ...['i01', 'i02', 'i03', 'i04', 'i05', 'i06', 'i07', 'i08'].map((n) => [n, 'published']),
    ]);
    expect(summary.ok).toBe(false);
  });

  it('returns a reference and counts, not the outcomes', () => {
    if (!isSummaryReference(result)) throw new Error('the result is not a reference');
    expect(result.counts).toEqual({
      packages: { built: 14, failed: 1, blocked: 1 },
      images: { published: 8, blocked: 1 },
    });
    expect(Object.keys(result).sort()).toEqual(['counts', 'ok', 'report', 'runId', 'runs', 'summary', 'workflowId']);
  });

  it('keeps every run under the suggestion plus what its running children added, and every run replays', async () => {
    const histories: HistoryAndWorkflowId[] = [];
    for (const runId of runIds) {
      const history = await t.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
      // After the suggestion a run starts nothing new: at most its running children (2) finish.
      expect(history.events!.length).toBeLessThan(SUGGEST_AFTER_EVENTS + 40);
      histories.push({ workflowId, history });
    }
    expect(await t.replay(histories)).toEqual([]);
  });
});
