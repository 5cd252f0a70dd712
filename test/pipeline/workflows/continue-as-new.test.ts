// catalogRebuild at any catalog size, on real Temporal, melange, apko and registry: a dedicated dev
// server (its own, so no other test's runs are affected) whose dynamic config makes Temporal suggest
// continue-as-new after a few history events (`limit.historyCount.suggestContinueAsNew`), so the
// tiny catalog's rebuild takes several runs. What a user checks: the rebuild continued-as-new and
// finished with nothing redone (each child workflow ran once, each package was built once), its
// result is a small reference with counts, and the CLI's path (startAndFollowRebuild, then
// formatSummary) prints the full summary read from the artifact store. On the same server, a shared
// rate limit's gate (workflows/host-limit.ts) continues-as-new as it hands out slots.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { devServerCommand } from '../../../adapters/temporal-cli.js';
import type { KilnConfig } from '../../../config/config.js';
import { connectClient, connectWorkerConnection } from '../../../client/connection.js';
import { startAndFollowRebuild } from '../../../client/rebuild.js';
import { isSummaryReference, type CatalogRebuildResult } from '../../../domain/run-summary.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { portOpen } from '../../../setup/services.js';
import { installRuntime } from '../../../workers/telemetry.js';
import { createKilnWorker } from '../../../workers/worker.js';
import { KILN_SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes.js';
import { gateId, spacingMs } from '../../../domain/host-limits.js';
import { askHostGate } from '../../../io/host-pacer.js';
import { acquireSlot, holdHost, runWaits, type Slot } from '../../../workflows/host-limit.js';
import { freePort } from '../global-setup.js';
import { isolatedFixture, kilnTestConfig, kilnTestEnv } from '../harness.js';

const env = kilnTestEnv();
const SUGGEST_AFTER_EVENTS = 12;
const workflowId = `continued-${Date.now()}`;

let work: string;
let server: ResultPromise | undefined;
let config: KilnConfig;
let client: Client;
let closeClient: () => Promise<void>;
let connection: NativeConnection;
let summary: RebuildSummary;
let result: CatalogRebuildResult;

beforeAll(async () => {
  work = await mkdtemp(join(env.KILN_STATE, 'continue-as-new-'));
  const catalogDir = await isolatedFixture('tiny', join(work, 'catalog'), 'continued');
  const port = await freePort();
  const uiPort = await freePort();
  config = kilnTestConfig(env, {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    KILN_WEB_UI: `http://127.0.0.1:${uiPort}`,
    KILN_CATALOG: catalogDir,
    KILN_TASK_QUEUE: 'continued',
  });
  const dev = devServerCommand(config, {
    dbFile: join(work, 'temporal.db'),
    port,
    uiPort,
    namespace: config.temporal.namespace,
    searchAttributes: KILN_SEARCH_ATTRIBUTES,
  });
  server = execa(
    dev.command,
    [...dev.args, '--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_AFTER_EVENTS}`],
    { stdio: 'ignore', reject: false },
  );
  for (const deadline = Date.now() + 60_000; !(await portOpen('127.0.0.1', port));) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('the dedicated dev server did not start');
    await new Promise((r) => setTimeout(r, 250));
  }
  installRuntime(config, 'WARN');
  connection = await connectWorkerConnection(config);
  ({ client, close: closeClient } = await connectClient(config));
  const worker = await createKilnWorker({ config, connection });
  const outcome = await worker.runUntil(startAndFollowRebuild(client, config, { catalogDir }, { workflowId }));
  if (outcome.error !== undefined) throw new Error(`the rebuild failed: ${outcome.error}`);
  summary = outcome.summary;
  result = (await client.workflow.getHandle(workflowId).result()) as CatalogRebuildResult;
}, 600_000);

afterAll(async () => {
  await closeClient?.();
  await connection?.close();
  server?.kill('SIGTERM');
  await server;
  if (work && !process.env.KILN_KEEP_TEST_STATE) await rm(work, { recursive: true, force: true });
});

/** The executions of one workflow id (every run of it, continued or retried). */
async function executions(id: string): Promise<{ runId: string; status: string }[]> {
  const runs: { runId: string; status: string }[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${id}'` }))
    runs.push({ runId: run.runId, status: run.status.name });
  return runs;
}

describe('a rebuild on a server that suggests continue-as-new early', () => {
  it('builds every package and publishes the image', () => {
    expect(summary.ok, formatSummary(summary)).toBe(true);
    expect(summary.packages.map((p) => [p.name, p.status])).toEqual([
      ['tiny-app', 'built'],
      ['tiny-lib', 'built'],
    ]);
    expect(summary.images.map((i) => [i.name, i.status])).toEqual([['tiny-app', 'published']]);
  });

  it('continued-as-new: several runs of one workflow id, all but the last continued', async () => {
    const runs = await executions(workflowId);
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.filter((r) => r.status === 'CONTINUED_AS_NEW')).toHaveLength(runs.length - 1);
    expect(summary.continuedFrom).toHaveLength(runs.length - 1);
  });

  it('redid nothing: each child workflow ran once, and each package was built once', async () => {
    for (const child of ['package/tiny-lib', 'package/tiny-app', 'image/tiny-app']) {
      const runs = await executions(`${workflowId}/${child}`);
      expect(runs, child).toHaveLength(1);
      expect(runs[0]!.status, child).toBe('COMPLETED');
    }
    for (const name of ['tiny-lib', 'tiny-app']) {
      const history = await client.workflow.getHandle(`${workflowId}/package/${name}`).fetchHistory();
      const builds = history.events!.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'buildPackage',
      );
      expect(builds, name).toHaveLength(1);
    }
  });

  it('returns a reference to the stored summary and counts, far under 100 KB', () => {
    expect(isSummaryReference(result)).toBe(true);
    if (!isSummaryReference(result)) return;
    expect(JSON.stringify(result).length).toBeLessThan(100_000);
    expect(result.summary).toMatch(new RegExp(`^${config.artifacts}:run-summary-[0-9a-f]{48}@sha256:[0-9a-f]{64}$`));
    expect(result.counts).toEqual({ packages: { built: 2 }, images: { published: 1 } });
    expect(result.runs).toBe(summary.continuedFrom!.length + 1);
  });

  it('keeps the reference and the counts in the memo, and what the first run recorded there', async () => {
    const memo = (await client.workflow.getHandle(workflowId).describe()).memo;
    expect(memo).toMatchObject({
      summary: isSummaryReference(result) ? result.summary : '',
      catalogDigest: summary.catalogDigest,
      target: 'production',
      packages: expect.stringMatching(/^2 built/),
    });
  });

  it('writes one run report whose timeline has the stages of every run', async () => {
    // The snapshot and the packages ran in earlier runs than the last: their stages come from those runs' histories.
    expect(summary.report?.timeline).toBe('stages');
    const page = await readFile(summary.report!.path, 'utf8');
    for (const stage of ['snapshotCatalog', 'buildPackage', 'publishPackage', 'assembleImage', 'tagImage'])
      expect(page, stage).toContain(stage);
  });

  it('prints the full summary from the stored artifact, as kiln rebuild does', () => {
    const text = formatSummary(summary, config.temporal.webUi);
    expect(text).toMatch(/^kiln catalog rebuild succeeded in /);
    expect(text).toMatch(/\n {2}tiny-lib +1\.0\.0-r0 +built /);
    expect(text).toMatch(/\n {2}tiny-app +0\.1\.0-r0 +built /);
    expect(text).toMatch(/\nImages: 1 published\n/);
    expect(text).toContain(
      `  runs    ${summary.continuedFrom!.length + 1} (continued as new ${summary.continuedFrom!.length} times)`,
    );
    expect(text).toContain(`/workflows/${workflowId}/${summary.runId}`);
  });
});

describe("a shared rate limit's gate on the same server", () => {
  it('continues-as-new without losing a slot, a hold or what a run waited', async () => {
    const host = 'gate.test:5000';
    const queue = config.temporal.taskQueue;
    const id = gateId(queue, host);
    const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
    const ask = () =>
      askHostGate<Slot>(client, queue, host, acquireSlot, [{ perSecond: 20, leadMs: 0, run: 'gate-run' }], pause);
    const worker = await createKilnWorker({ config, connection });
    const { slots, held, heldAt, waits } = await worker.runUntil(async () => {
      const slots: Slot[] = [];
      // Asked back to back, without waiting for each slot: most wait in the workflow.
      for (let i = 0; i < 30; i++) slots.push(await ask());
      const heldAt = Date.now();
      await askHostGate<void>(client, queue, host, holdHost, [{ ms: 1500 }], pause);
      const held = await ask();
      // Asked of the run the gate is in now, which carried what earlier runs recorded.
      const waits = await client.workflow.getHandle(id).query(runWaits, 'gate-run');
      return { slots, held, heldAt, waits };
    });
    const runs = await executions(id);
    expect(runs.length, 'the gate continued as new').toBeGreaterThan(1);
    expect(runs.filter((r) => r.status === 'RUNNING')).toHaveLength(1);
    // Every slot after the one before, at least 1/(20 × PACE) s apart, across the runs.
    for (let i = 1; i < slots.length; i++)
      expect(slots[i]!.at - slots[i - 1]!.at, `slot ${i}`).toBeGreaterThanOrEqual(spacingMs(20) - 0.001);
    // The hold outlived the run it was asked of (same host clock here).
    expect(held.at).toBeGreaterThanOrEqual(heldAt + 1500 - 50);
    // Every wait the slots reported is on record, whichever run of the gate recorded it.
    const waited = [...slots, held].filter((x) => x.waitedMs > 0);
    expect(waited.length).toBeGreaterThan(10);
    expect(waits).toMatchObject({ waits: waited.length, waitedMs: waited.reduce((n, x) => n + x.waitedMs, 0) });
  });
});
