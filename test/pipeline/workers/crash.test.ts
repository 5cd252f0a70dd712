// A worker dies (SIGKILL) in the middle of a melange build; a new worker finishes the run, and
// nothing that finished before the kill is built again.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../config/config.js';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { connectTemporal, kilnTestEnv, rebuildSummary, type TemporalHarness } from '../harness.js';

const env = kilnTestEnv();
const taskQueue = `crash-${Date.now()}`;
let temporal: TemporalHarness;
const workers: ResultPromise[] = [];

/**
 * A worker in its own process, as production runs it (node, not a wrapper that could outlive a
 * kill), configured by its environment: this one's plus the test services' variables.
 */
function startWorker(): ResultPromise {
  const child = execa(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'workers', 'main.ts')], {
    cwd: REPO_ROOT,
    env: { ...env, KILN_TASK_QUEUE: taskQueue, KILN_LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'inherit', 'inherit'],
    reject: false,
  });
  workers.push(child);
  return child;
}

const buildLog = (name: string) => join(env.KILN_STATE, 'logs', 'packages', `${name}-1.0.0-r0-x86_64.log`);
const melangeBuildRuns = (name: string) =>
  existsSync(buildLog(name))
    ? readFileSync(buildLog(name), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('$ ') && l.includes(' build ')).length
    : 0;

async function until(what: string, check: () => boolean, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  temporal = await connectTemporal(env);
});
afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGTERM');
  await temporal?.close();
});

describe('a worker killed during a melange build', () => {
  it('is replaced by a new worker that finishes the run without rebuilding finished packages', async () => {
    const first = startWorker();
    const workflowId = `crash-${Date.now()}`;
    const handle = await temporal.client.workflow.start(catalogRebuild, {
      taskQueue,
      workflowId,
      args: [{ catalogDir: join(REPO_ROOT, 'test', 'fixtures', 'crash') }],
    });
    // crash-slow builds against crash-base, so crash-base has finished once crash-slow's build runs.
    await until(
      'the crash-slow melange build to start',
      () =>
        existsSync(buildLog('crash-slow')) && readFileSync(buildLog('crash-slow'), 'utf8').includes('building against'),
    );
    first.kill('SIGKILL');
    await new Promise<void>((r) =>
      first.exitCode !== null || first.signalCode !== null ? r() : first.once('exit', () => r()),
    );
    expect(first.signalCode).toBe('SIGKILL');

    void startWorker(); // settles when the worker exits (reject: false); afterAll stops it
    const summary = await rebuildSummary(await handle.result());
    expect(summary.ok, JSON.stringify(summary, null, 2)).toBe(true);
    expect(Object.fromEntries(summary.packages.map((p) => [p.name, p.status]))).toEqual({
      'crash-base': 'built',
      'crash-slow': 'built',
    });
    expect(summary.images.map((i) => i.status)).toEqual(['published']);

    // crash-base finished before the kill: built exactly once. crash-slow was interrupted: twice.
    expect(melangeBuildRuns('crash-base')).toBe(1);
    expect(melangeBuildRuns('crash-slow')).toBe(2);
    const baseHistory = await temporal.client.workflow.getHandle(`${workflowId}/package/crash-base`).fetchHistory();
    const scheduled = baseHistory.events!.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'buildPackage',
    );
    expect(scheduled).toHaveLength(1);
  });
});
