// The package phase at catalog scale: 300 generated shell-only packages, 10 layers deep, built for
// real on the embedded Temporal server, within Temporal's limits.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { generateCatalog, type GeneratedCatalog } from '../../../bench/generate-catalog.js';
import type { RebuildSummary } from '../../../domain/summary.js';
import { connectTemporal, kilnTestConfig, kilnTestEnv, type TemporalHarness, rebuildSummary } from '../harness.js';

const env = kilnTestEnv();
let temporal: TemporalHarness;
let catalog: GeneratedCatalog;
let summary: RebuildSummary;
const workflowId = `scale-${Date.now()}`;
const CONCURRENCY = 4;

beforeAll(async () => {
  temporal = await connectTemporal(env);
  catalog = await generateCatalog(join(await mkdtemp(join(tmpdir(), 'kiln-scale-')), 'catalog'), {
    count: 300,
    depth: 10,
    concurrency: CONCURRENCY,
    image: false,
    repository: 'repo-scale',
  });
  const worker = await temporal.worker('scale', kilnTestConfig(env, { KILN_CATALOG: catalog.dir }));
  summary = await rebuildSummary(
    await worker.runUntil(
      temporal.client.workflow.execute(catalogRebuild, {
        taskQueue: 'scale',
        workflowId,
        args: [{ catalogDir: catalog.dir }],
      }),
    ),
  );
});
afterAll(async () => temporal?.close());

describe('a 300-package catalog, 10 layers deep', () => {
  it('builds every package', () => {
    expect(summary.packages).toHaveLength(300);
    expect(
      summary.packages.filter((p) => p.status !== 'built').map((p) => `${p.name}: ${p.status} ${p.error ?? ''}`),
    ).toEqual([]);
  });

  it('never has more children pending than the window, and stays far below the history limits', async () => {
    const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events!;
    let pending = 0;
    let maxPending = 0;
    for (const e of events) {
      if (e.startChildWorkflowExecutionInitiatedEventAttributes) pending++;
      if (e.childWorkflowExecutionCompletedEventAttributes || e.childWorkflowExecutionFailedEventAttributes) pending--;
      maxPending = Math.max(maxPending, pending);
    }
    expect(maxPending).toBeLessThanOrEqual(CONCURRENCY);
    expect(maxPending).toBe(CONCURRENCY); // the window was actually used
    // 51,200 is the hard limit and 10,240 the warning; continue-as-new is suggested at 4,096.
    expect(events.length).toBeLessThan(4096);
  });

  it('builds a package only after everything it builds against', async () => {
    const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const startedAt = new Map<string, number>();
    const doneAt = new Map<string, number>();
    history.events!.forEach((e, i) => {
      const started = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (started) startedAt.set(started.split('/').pop()!, i);
      const done = e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId;
      if (done) doneAt.set(done.split('/').pop()!, i);
    });
    for (const p of catalog.packages) {
      for (const d of p.dependsOn) expect(doneAt.get(d)!, `${d} before ${p.name}`).toBeLessThan(startedAt.get(p.name)!);
    }
  });
});
