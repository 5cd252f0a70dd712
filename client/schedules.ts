// The Temporal Schedules kiln runs from catalog.yaml: the nightly one (catalogRebuild on the
// `schedule:` cron, id `kiln-nightly`) and the upstream watch (upstreamWatch every `updates.every`,
// id `kiln-upstream-watch`; both ids from config.schedules).
// Applying is idempotent: what kiln applied rides along in the action's memo, and the server's
// own description is checked too, so a second apply changes nothing unless something differs.
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import type { ScheduleSettings, UpdateSettings } from '../domain/catalog.js';
import { catalogInvalid } from '../domain/failures.js';

const OVERLAP: Record<ScheduleSettings['overlap'], ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

export interface ScheduleTarget {
  scheduleId: string;
  taskQueue: string;
  /** The workflow's one input object for every scheduled run. */
  input: Record<string, unknown>;
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** catalog.yaml durations ("30m", "1h", "1d"; the loader has validated them) in milliseconds. */
function durationMs(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw catalogInvalid(`not a duration: ${text} (fix: write it as e.g. 30m, 1h or 1d)`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

interface Wanted {
  options: ScheduleOptions;
  /** What kiln applied (kept in the action memo), including what the server cannot echo back (the cron text). */
  fingerprint: string;
  catchupWindowMs?: number;
  intervalMs?: number;
}

function nightlyWanted(settings: ScheduleSettings, target: ScheduleTarget): Wanted {
  const fingerprint = JSON.stringify({ ...settings, taskQueue: target.taskQueue, input: target.input });
  return {
    fingerprint,
    catchupWindowMs: durationMs(settings.catchupWindow),
    options: {
      scheduleId: target.scheduleId,
      spec: { cronExpressions: [settings.cron], timezone: settings.timezone },
      action: {
        type: 'startWorkflow',
        workflowType: 'catalogRebuild',
        taskQueue: target.taskQueue,
        args: [target.input],
        // The server appends the scheduled time, so each night's run has its own id.
        workflowId: 'nightly-rebuild',
        memo: { kilnSchedule: fingerprint },
      },
      policies: { overlap: OVERLAP[settings.overlap], catchupWindow: settings.catchupWindow },
    },
  };
}

function watchWanted(updates: UpdateSettings, target: ScheduleTarget): Wanted {
  const fingerprint = JSON.stringify({ every: updates.every, taskQueue: target.taskQueue, input: target.input });
  return {
    fingerprint,
    intervalMs: durationMs(updates.every),
    options: {
      scheduleId: target.scheduleId,
      spec: { intervals: [{ every: updates.every }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'upstreamWatch',
        taskQueue: target.taskQueue,
        args: [target.input],
        workflowId: 'upstream-watch',
        memo: { kilnSchedule: fingerprint },
      },
      // A slow poll must not pile up behind itself.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    },
  };
}

async function describeOrUndefined(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (err) {
    if ((err as Error).name === 'ScheduleNotFoundError') return undefined;
    throw err;
  }
}

/** Whether a Schedule with this id exists. */
export async function scheduleExists(client: Client, id: string): Promise<boolean> {
  return (await describeOrUndefined(client, id)) !== undefined;
}

/** The memo alone would miss an edit made in the Web UI; these fields come back from the server as sent. */
function sameAsApplied(current: ScheduleDescription, wanted: Wanted): boolean {
  const a = current.action;
  const w = wanted.options.action;
  if (
    a.type !== 'startWorkflow' ||
    (a.memo as Record<string, unknown> | undefined)?.kilnSchedule !== wanted.fingerprint
  )
    return false;
  if (
    a.workflowType !== w.workflowType ||
    a.taskQueue !== w.taskQueue ||
    JSON.stringify(a.args) !== JSON.stringify(w.args)
  )
    return false;
  if (current.policies.overlap !== (wanted.options.policies?.overlap ?? ScheduleOverlapPolicy.SKIP)) return false;
  if (wanted.catchupWindowMs !== undefined && current.policies.catchupWindow !== wanted.catchupWindowMs) return false;
  if (
    wanted.intervalMs !== undefined &&
    (current.spec.intervals?.length !== 1 || current.spec.intervals[0]!.every !== wanted.intervalMs)
  )
    return false;
  return true;
}

async function apply(client: Client, wanted: Wanted): Promise<ApplyOutcome> {
  const id = wanted.options.scheduleId;
  const current = await describeOrUndefined(client, id);
  if (!current) {
    await client.schedule.create(wanted.options);
    return 'created';
  }
  if (sameAsApplied(current, wanted)) return 'unchanged';
  // Update in place (same id): its paused state, notes and recent runs stay.
  await client.schedule.getHandle(id).update((prev) => ({
    ...prev,
    spec: wanted.options.spec,
    action: wanted.options.action,
    policies: wanted.options.policies,
  }));
  return 'updated';
}

/** Creates or updates the nightly catalogRebuild Schedule from catalog.yaml's `schedule:` block. */
export function applySchedule(
  client: Client,
  settings: ScheduleSettings,
  target: ScheduleTarget,
): Promise<ApplyOutcome> {
  return apply(client, nightlyWanted(settings, target));
}

/** Creates or updates the upstreamWatch Schedule: every `updates.every`, never two polls at once. */
export function applyWatchSchedule(
  client: Client,
  updates: UpdateSettings,
  target: ScheduleTarget,
): Promise<ApplyOutcome> {
  return apply(client, watchWanted(updates, target));
}

/** A readable description: the spec, the next runs and the recent runs with their outcome. */
export async function describeSchedule(client: Client, id: string): Promise<string> {
  const d = await describeOrUndefined(client, id);
  if (!d) return `no schedule "${id}" (run: npm run kiln -- schedule apply)`;
  const memo = d.action.type === 'startWorkflow' ? (d.action.memo as { kilnSchedule?: string } | undefined) : undefined;
  const applied = memo?.kilnSchedule
    ? (JSON.parse(memo.kilnSchedule) as Partial<ScheduleSettings & UpdateSettings>)
    : {};
  const when = applied.cron
    ? `cron "${applied.cron}" ${applied.timezone}, overlap ${applied.overlap}, catch-up window ${applied.catchupWindow}`
    : applied.every
      ? `every ${applied.every}, overlap skip`
      : '(not applied by kiln)';
  const lines = [
    `schedule ${id}: ${d.state.paused ? `PAUSED${d.state.note ? ` (${d.state.note})` : ''}` : 'active'}`,
    `  ${when}`,
    `  starts ${d.action.workflowType} on task queue ${d.action.taskQueue} with ${JSON.stringify(d.action.args?.[0] ?? {})}`,
    `  next runs: ${
      d.state.paused
        ? '(none while paused)'
        : d.info.nextActionTimes
            .slice(0, 3)
            .map((t) => t.toISOString())
            .join(', ') || '(none)'
    }`,
    '  recent runs:',
  ];
  const recent = d.info.recentActions.slice(-5);
  if (!recent.length) lines.push('    (none yet)');
  for (const a of recent) {
    const wf = a.action.workflow;
    // The Schedule only remembers what it started; the outcome is the run's own status.
    const status = await client.workflow
      .getHandle(wf.workflowId, wf.firstExecutionRunId)
      .describe()
      .then(
        (x) => x.status.name,
        () => 'UNKNOWN',
      );
    lines.push(`    ${a.takenAt.toISOString()}  ${wf.workflowId}  ${status}`);
  }
  return lines.join('\n');
}
