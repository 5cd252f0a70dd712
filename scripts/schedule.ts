// The nightly Temporal Schedule for catalogRebuild, applied from catalog.yaml's `schedule:` block.
// Applying is idempotent: the settings kiln applied ride along in the action's memo, so a second
// apply compares against them and changes nothing when nothing changed.
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import type { ScheduleSettings, UpdateSettings } from '../domain/catalog.js';

export const NIGHTLY_SCHEDULE_ID = 'kiln-nightly';
export const WATCH_SCHEDULE_ID = 'kiln-upstream-watch';

const OVERLAP: Record<ScheduleSettings['overlap'], ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

export interface NightlyTarget {
  scheduleId: string;
  taskQueue: string;
  /** catalogRebuild's input for every scheduled run. */
  input: Record<string, unknown>;
}

/** What kiln applied, compared field by field on the next apply. */
function applied(settings: ScheduleSettings, target: NightlyTarget): string {
  return JSON.stringify({ ...settings, taskQueue: target.taskQueue, input: target.input });
}

function options(settings: ScheduleSettings, target: NightlyTarget): ScheduleOptions {
  return {
    scheduleId: target.scheduleId,
    spec: { cronExpressions: [settings.cron], timezone: settings.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: 'catalogRebuild',
      taskQueue: target.taskQueue,
      args: [target.input],
      // The server appends the scheduled time, so each night's run has its own id.
      workflowId: 'nightly-rebuild',
      memo: { kilnSchedule: applied(settings, target) },
    },
    policies: { overlap: OVERLAP[settings.overlap], catchupWindow: settings.catchupWindow },
  };
}

async function describe(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if ((err as Error).name === 'ScheduleNotFoundError') return undefined;
    throw err;
  }
}

export async function applySchedule(client: Client, settings: ScheduleSettings, target: NightlyTarget): Promise<'created' | 'updated' | 'unchanged'> {
  const current = await describe(client, target.scheduleId);
  const wanted = options(settings, target);
  if (!current) {
    await client.schedule.create(wanted);
    return 'created';
  }
  const memo = current.action.type === 'startWorkflow' ? (current.action.memo as Record<string, unknown> | undefined) : undefined;
  if (memo?.kilnSchedule === applied(settings, target)) return 'unchanged';
  await client.schedule.getHandle(target.scheduleId).update((prev) => ({ ...prev, spec: wanted.spec, action: wanted.action, policies: wanted.policies }));
  return 'updated';
}

/** A readable description: the spec, the next runs and the recent runs with their outcome. */
export async function describeSchedule(client: Client, id: string): Promise<string> {
  const d = await describe(client, id);
  if (!d) return `no schedule "${id}" (run: npm run kiln -- schedule apply)`;
  const memo = d.action.type === 'startWorkflow' ? (d.action.memo as { kilnSchedule?: string } | undefined) : undefined;
  const settings = memo?.kilnSchedule ? (JSON.parse(memo.kilnSchedule) as ScheduleSettings & { taskQueue: string; input: unknown }) : undefined;
  const lines = [
    `schedule ${id}: ${d.state.paused ? `PAUSED${d.state.note ? ` (${d.state.note})` : ''}` : 'active'}`,
    settings ? `  cron "${settings.cron}" ${settings.timezone}, overlap ${settings.overlap}, catch-up window ${settings.catchupWindow}` : '  (not applied by kiln)',
    settings ? `  starts catalogRebuild on task queue ${settings.taskQueue} with ${JSON.stringify(settings.input)}` : '',
    `  next runs: ${d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()).join(', ') || '(none while paused)'}`,
    '  recent runs:',
  ].filter(Boolean);
  const recent = d.info.recentActions.slice(-5);
  if (!recent.length) lines.push('    (none yet)');
  for (const a of recent) {
    const wf = a.action.workflow;
    const status = await client.workflow.getHandle(wf.workflowId, wf.firstExecutionRunId).describe().then((x) => x.status.name, () => 'UNKNOWN');
    lines.push(`    ${a.takenAt.toISOString()}  ${wf.workflowId}  ${status}`);
  }
  return lines.join('\n');
}

/** The upstream watcher's Schedule: upstreamWatch every `updates.every`, never two at once. */
export async function applyWatchSchedule(client: Client, updates: UpdateSettings, target: NightlyTarget): Promise<'created' | 'updated' | 'unchanged'> {
  const fingerprint = JSON.stringify({ every: updates.every, taskQueue: target.taskQueue, input: target.input });
  const wanted: ScheduleOptions = {
    scheduleId: target.scheduleId,
    spec: { intervals: [{ every: updates.every }] },
    action: {
      type: 'startWorkflow', workflowType: 'upstreamWatch', taskQueue: target.taskQueue, args: [target.input],
      workflowId: 'upstream-watch', memo: { kilnSchedule: fingerprint },
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  };
  const current = await describe(client, target.scheduleId);
  if (!current) {
    await client.schedule.create(wanted);
    return 'created';
  }
  const memo = current.action.type === 'startWorkflow' ? (current.action.memo as Record<string, unknown> | undefined) : undefined;
  if (memo?.kilnSchedule === fingerprint) return 'unchanged';
  await client.schedule.getHandle(target.scheduleId).update((prev) => ({ ...prev, spec: wanted.spec, action: wanted.action, policies: wanted.policies }));
  return 'updated';
}
