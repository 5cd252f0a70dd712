// The nightly Schedule on the real Temporal server: apply is idempotent, a changed cron updates
// the same Schedule, every field kiln sets that someone changes behind its back (as the Web UI
// would, through the Temporal client) is found and put back, and a triggered run completes.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../config/config.js';
import type { ScheduleSettings } from '../../../domain/catalog.js';
import { ScheduleOverlapPolicy, type ScheduleDescription, type ScheduleUpdateOptions } from '@temporalio/client';
import { applySchedule, applyWatchSchedule, describeSchedule } from '../../../client/schedules.js';
import { connectTemporal, isolatedFixture, kilnTestEnv, rebuildSummary, type TemporalHarness } from '../harness.js';

const env = kilnTestEnv();
let temporal: TemporalHarness;
const scheduleId = `kiln-nightly-test-${Date.now()}`;
const taskQueue = `schedule-${Date.now()}`;
const nightly: ScheduleSettings = { cron: '17 2 * * *', timezone: 'UTC', overlap: 'skip', catchupWindow: '1h' };
let catalogDir: string;

beforeAll(async () => {
  temporal = await connectTemporal(env);
  catalogDir = await mkdtemp(join(tmpdir(), 'kiln-schedule-'));
  await isolatedFixture('tiny', catalogDir, 'schedule');
});
afterAll(async () => {
  await temporal.client.schedule
    .getHandle(scheduleId)
    .delete()
    .catch(() => undefined);
  for (const id of [
    `${scheduleId}-watch`,
    `${scheduleId}-cli`,
    `${scheduleId}-cli-watch`,
    `${scheduleId}-cli-cleanup`,
  ]) {
    await temporal.client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  }
  await temporal?.close();
});

describe('schedule apply', () => {
  const target = () => ({ scheduleId, taskQueue, input: { catalogDir } });

  it('creates the Schedule once; applying again changes nothing', async () => {
    expect(await applySchedule(temporal.client, nightly, target())).toEqual({ outcome: 'created', drifted: [] });
    const before = await temporal.client.schedule.getHandle(scheduleId).describe();
    expect(await applySchedule(temporal.client, nightly, target())).toEqual({ outcome: 'unchanged', drifted: [] });
    const after = await temporal.client.schedule.getHandle(scheduleId).describe();
    expect(after.raw.conflictToken).toEqual(before.raw.conflictToken);
    expect(before.policies.overlap).toBe('SKIP');
    expect(before.info.nextActionTimes[0]!.toISOString()).toMatch(/T02:17:00\.000Z$/);
  });

  it('updates the same Schedule when the cron changes', async () => {
    expect(await applySchedule(temporal.client, { ...nightly, cron: '45 3 * * *' }, target())).toEqual({
      outcome: 'updated',
      drifted: ['cron ("17 2 * * *", want "45 3 * * *")'],
    });
    const d = await temporal.client.schedule.getHandle(scheduleId).describe();
    expect(d.info.nextActionTimes[0]!.toISOString()).toMatch(/T03:45:00\.000Z$/);
    const ids = [];
    for await (const s of temporal.client.schedule.list()) ids.push(s.scheduleId);
    expect(ids.filter((i) => i === scheduleId)).toHaveLength(1);
    expect(await describeSchedule(temporal.client, scheduleId)).toMatch(/cron "45 3 \* \* \*" UTC, overlap skip/);
  });

  it('repairs an edit made outside kiln, which the memo alone would miss', async () => {
    // What someone might do in the Web UI: point the Schedule at another task queue.
    await temporal.client.schedule
      .getHandle(scheduleId)
      .update((prev) => ({ ...prev, action: { ...prev.action, taskQueue: 'elsewhere' } }));
    const r = await applySchedule(temporal.client, { ...nightly, cron: '45 3 * * *' }, target());
    expect(r.outcome).toBe('updated');
    const d = await temporal.client.schedule.getHandle(scheduleId).describe();
    expect(d.action.taskQueue).toBe(taskQueue);
  });

  // Each edit is one someone could make in the Web UI; `back` checks the field is kiln's again.
  const wanted: ScheduleSettings = { ...nightly, cron: '45 3 * * *', paused: false };
  const edit =
    (change: (prev: ScheduleUpdateOptions) => ScheduleUpdateOptions) =>
    async (id: string): Promise<void> => {
      await temporal.client.schedule.getHandle(id).update((prev) => change(prev));
    };
  const drifts: [string, RegExp, (id: string) => Promise<void>, (d: ScheduleDescription) => void][] = [
    [
      'the cron',
      /^cron \(not the spec kiln applied/,
      edit((p) => ({ ...p, spec: { cronExpressions: ['1 5 * * *'], timezone: p.spec.timezone } })),
      (d) => expect(d.info.nextActionTimes[0]!.toISOString()).toMatch(/T03:45:00\.000Z$/),
    ],
    [
      'an extra calendar beside the cron',
      /^cron \(not the spec kiln applied/,
      edit((p) => ({ ...p, spec: { ...p.spec, calendars: [...(p.spec.calendars ?? []), { hour: 12, minute: 30 }] } })),
      (d) => {
        expect(d.spec.calendars).toHaveLength(1);
        expect(d.info.nextActionTimes.every((t) => t.toISOString().endsWith('T03:45:00.000Z'))).toBe(true);
      },
    ],
    [
      'the timezone',
      /^timezone \("Asia\/Tokyo", want "UTC"\)$/,
      edit((p) => ({ ...p, spec: { ...p.spec, timezone: 'Asia/Tokyo' } })),
      (d) => expect(d.spec.timezone).toBe('UTC'),
    ],
    [
      'the overlap policy',
      /^overlap \("ALLOW_ALL", want "SKIP"\)$/,
      edit((p) => ({ ...p, policies: { ...p.policies, overlap: ScheduleOverlapPolicy.ALLOW_ALL } })),
      (d) => expect(d.policies.overlap).toBe('SKIP'),
    ],
    [
      'the catch-up window',
      /^catch-up window ms \(300000, want 3600000\)$/,
      edit((p) => ({ ...p, policies: { ...p.policies, catchupWindow: '5m' } })),
      (d) => expect(d.policies.catchupWindow).toBe(3_600_000),
    ],
    [
      'the paused state',
      /^paused \(true, want false\)$/,
      (id) => temporal.client.schedule.getHandle(id).pause('paused in the Web UI'),
      (d) => expect(d.state.paused).toBe(false),
    ],
    [
      'the workflow type',
      /^workflow type \("upstreamWatch", want "catalogRebuild"\)$/,
      edit((p) => ({ ...p, action: { ...p.action, workflowType: 'upstreamWatch' } })),
      (d) => expect(d.action.type === 'startWorkflow' && d.action.workflowType).toBe('catalogRebuild'),
    ],
    [
      'the task queue',
      /^task queue \("elsewhere", want "schedule-\d+"\)$/,
      edit((p) => ({ ...p, action: { ...p.action, taskQueue: 'elsewhere' } })),
      (d) => expect(d.action.taskQueue).toBe(taskQueue),
    ],
    [
      'the input',
      /^input \(\[\{"catalogDir":"\/elsewhere","force":true\}\], want/,
      edit((p) => ({ ...p, action: { ...p.action, args: [{ catalogDir: '/elsewhere', force: true }] } })),
      (d) => expect(d.action.args).toEqual([{ catalogDir }]),
    ],
    [
      'the workflow id',
      /^workflow id \("other", want "nightly-rebuild"\)$/,
      edit((p) => ({ ...p, action: { ...p.action, workflowId: 'other' } })),
      (d) => expect(d.action.type === 'startWorkflow' && d.action.workflowId).toBe('nightly-rebuild'),
    ],
  ];
  it.each(drifts)('puts back %s changed behind its back, then changes nothing', async (_, report, change, back) => {
    expect((await applySchedule(temporal.client, wanted, target())).outcome).not.toBe('created');
    expect(await applySchedule(temporal.client, wanted, target())).toEqual({ outcome: 'unchanged', drifted: [] });
    await change(scheduleId);
    const r = await applySchedule(temporal.client, wanted, target());
    expect(r.outcome).toBe('updated');
    expect(r.drifted).toHaveLength(1);
    expect(r.drifted[0]).toMatch(report);
    back(await temporal.client.schedule.getHandle(scheduleId).describe());
    expect(await applySchedule(temporal.client, wanted, target())).toEqual({ outcome: 'unchanged', drifted: [] });
  });

  it('leaves a pause alone when catalog.yaml does not say paused', async () => {
    const handle = temporal.client.schedule.getHandle(scheduleId);
    await handle.pause('maintenance');
    expect(await applySchedule(temporal.client, { ...nightly, cron: '45 3 * * *' }, target())).toEqual({
      outcome: 'unchanged',
      drifted: [],
    });
    expect((await handle.describe()).state.paused).toBe(true);
    await handle.unpause();
  });

  it('pauses and unpauses', async () => {
    const handle = temporal.client.schedule.getHandle(scheduleId);
    await handle.pause('maintenance');
    expect(await describeSchedule(temporal.client, scheduleId)).toMatch(/PAUSED \(maintenance\)/);
    await handle.unpause();
    expect((await handle.describe()).state.paused).toBe(false);
  });

  it('runs catalogRebuild when triggered, and describe shows the run', async () => {
    const handle = temporal.client.schedule.getHandle(scheduleId);
    const worker = await temporal.worker(taskQueue);
    const summary = await worker.runUntil(async () => {
      await handle.trigger();
      let started: { workflowId: string; firstExecutionRunId: string } | undefined;
      while (!started) {
        started = (await handle.describe()).info.recentActions.at(-1)?.action.workflow;
        if (!started) await new Promise((r) => setTimeout(r, 200));
      }
      return await rebuildSummary(
        await temporal.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result(),
      );
    });
    expect(summary.ok).toBe(true);
    expect(summary.workflowId).toMatch(/^nightly-rebuild-/);
    expect(summary.packages.map((p) => p.name)).toEqual(['tiny-app', 'tiny-lib']);
    expect(await describeSchedule(temporal.client, scheduleId)).toMatch(/nightly-rebuild-\S+\s+COMPLETED/);
  });
});

describe('npm run kiln -- schedule', () => {
  const cliId = `${scheduleId}-cli`;
  let cliCatalog: string;
  const kiln = async (...args: string[]) => {
    const r = await execa(
      join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [join(REPO_ROOT, 'cli', 'kiln.ts'), 'schedule', ...args],
      {
        env: {
          ...env,
          KILN_SCHEDULE_ID: cliId,
          KILN_WATCH_SCHEDULE_ID: `${cliId}-watch`,
          KILN_CLEANUP_SCHEDULE_ID: `${cliId}-cleanup`,
          KILN_TASK_QUEUE: taskQueue,
        },
        reject: false,
      },
    );
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    cliCatalog = await mkdtemp(join(tmpdir(), 'kiln-schedule-cli-'));
    await isolatedFixture('tiny', cliCatalog, 'schedule-cli');
    const settings = join(cliCatalog, 'catalog.yaml');
    await writeFile(
      settings,
      `${await readFile(settings, 'utf8')}schedule:\n  cron: "5 4 * * *"\n  timezone: Europe/Berlin\n  paused: false\nupdates:\n  every: 6h\n  repositories:\n    tiny-lib: /nonexistent/upstream.git\n`,
    );
    const lib = join(cliCatalog, 'packages', 'tiny-lib.yaml');
    await writeFile(lib, `${await readFile(lib, 'utf8')}update:\n  enabled: true\n  git:\n    strip-prefix: v\n`);
  });

  it("applies both Schedules from catalog.yaml, and the state clean-up's, then reports them unchanged", async () => {
    const first = await kiln('apply', '--catalog', cliCatalog);
    expect(first).toContain(`schedule ${cliId}: created`);
    expect(first).toContain(`schedule ${cliId}-watch: created (upstreamWatch every 6h for tiny-lib)`);
    expect(first).toContain(`schedule ${cliId}-cleanup: created (stateCleanup every 1d: keeps the last 7 runs' state)`);
    const second = await kiln('apply', '--catalog', cliCatalog);
    expect(second).toContain(`schedule ${cliId}: unchanged`);
    expect(second).toContain(`schedule ${cliId}-watch: unchanged`);
    expect(second).toContain(`schedule ${cliId}-cleanup: unchanged`);
    expect(second).toMatch(
      new RegExp(`schedule ${cliId}-cleanup: active\\n  every 1d, overlap skip\\n  starts stateCleanup`),
    );
    const d = await temporal.client.schedule.getHandle(cliId).describe();
    expect(d.action.args).toEqual([{ catalogDir: cliCatalog }]);
    expect(d.spec.timezone).toBe('Europe/Berlin');
  });

  it('reports a cron and a pause made outside kiln as drift, and puts both back (catalog.yaml says paused: false)', async () => {
    const handle = temporal.client.schedule.getHandle(cliId);
    await handle.update((p) => ({ ...p, spec: { cronExpressions: ['0 0 * * *'], timezone: p.spec.timezone } }));
    await handle.pause('paused in the Web UI');
    // Temporal applies a pause shortly after answering (a CI run once described the schedule
    // before it took): kiln is asked once the drift is there to see.
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      if ((await handle.describe()).state.paused) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await kiln('apply', '--catalog', cliCatalog)).toContain(
      `schedule ${cliId}: updated (drifted: cron (not the spec kiln applied: edited outside kiln, want "5 4 * * *"); paused (true, want false))`,
    );
    const d = await handle.describe();
    expect(d.spec.calendars?.[0]?.hour).toEqual([{ start: 4, end: 4, step: 1 }]);
    expect(d.state.paused).toBe(false);
    expect(await kiln('apply', '--catalog', cliCatalog)).toContain(`schedule ${cliId}: unchanged`);
  });

  it('describes the spec, the next three runs and the recent runs', async () => {
    const out = await kiln('describe');
    expect(out).toContain(`schedule ${cliId}: active`);
    expect(out).toContain(
      'cron "5 4 * * *" Europe/Berlin, overlap skip, catch-up window 1h, kept active by catalog.yaml',
    );
    expect(out).toMatch(/next runs: \S+Z, \S+Z, \S+Z\n/);
    expect(out).toContain('(none yet)');
    expect(out).toContain(
      `schedule ${cliId}-watch: active\n  every 6h, overlap skip\n  starts upstreamWatch on task queue ${taskQueue}`,
    );
  });

  it('pauses and unpauses both', async () => {
    expect(await kiln('pause')).toMatch(
      new RegExp(`schedule ${cliId}: PAUSED \\(paused from the kiln CLI\\)[\\s\\S]*schedule ${cliId}-watch: PAUSED`),
    );
    expect((await temporal.client.schedule.getHandle(`${cliId}-watch`).describe()).state.paused).toBe(true);
    expect(await kiln('unpause')).toContain(`schedule ${cliId}: active`);
    expect((await temporal.client.schedule.getHandle(`${cliId}-watch`).describe()).state.paused).toBe(false);
  });
});

describe('the upstream watch schedule', () => {
  it('runs upstreamWatch every updates.every, and applying again changes nothing', async () => {
    const updates = {
      every: '2h',
      branchPrefix: 'kiln/update/',
      onMainBranch: false,
      githubApi: 'https://api.github.com',
      repositories: {},
    };
    const target = { scheduleId: `${scheduleId}-watch`, taskQueue, input: { catalogDir } };
    expect((await applyWatchSchedule(temporal.client, updates, target)).outcome).toBe('created');
    expect((await applyWatchSchedule(temporal.client, updates, target)).outcome).toBe('unchanged');
    const d = await temporal.client.schedule.getHandle(target.scheduleId).describe();
    expect(d.action.type === 'startWorkflow' && d.action.workflowType).toBe('upstreamWatch');
    expect(d.spec.intervals?.[0]?.every).toBe(2 * 3600 * 1000);
    expect((await applyWatchSchedule(temporal.client, { ...updates, every: '30m' }, target)).outcome).toBe('updated');
    // Someone sets another interval and the overlap policy in the Web UI: both come back.
    await temporal.client.schedule.getHandle(target.scheduleId).update((p) => ({
      ...p,
      spec: { intervals: [{ every: '5m' }] },
      policies: { ...p.policies, overlap: ScheduleOverlapPolicy.ALLOW_ALL },
    }));
    const r = await applyWatchSchedule(temporal.client, { ...updates, every: '30m' }, target);
    expect(r.outcome).toBe('updated');
    expect(r.drifted).toEqual([
      'every (not the spec kiln applied: edited outside kiln, want "30m")',
      'overlap ("ALLOW_ALL", want "SKIP")',
    ]);
    const back = await temporal.client.schedule.getHandle(target.scheduleId).describe();
    expect(back.spec.intervals?.map((i) => i.every)).toEqual([30 * 60 * 1000]);
    expect(back.policies.overlap).toBe('SKIP');
    expect((await applyWatchSchedule(temporal.client, { ...updates, every: '30m' }, target)).outcome).toBe('unchanged');
  });
});
