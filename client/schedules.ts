// The Temporal Schedules kiln runs from catalog.yaml: the nightly one (catalogRebuild on the
// `schedule:` cron, id `kiln-nightly`) and the upstream watch (upstreamWatch every `updates.every`,
// id `kiln-upstream-watch`; both ids from config.schedules).
// Applying converges: every field kiln sets (cron, timezone, overlap, catch-up window, the paused
// state when catalog.yaml sets one, the workflow type, id, task queue and input) is compared with the
// server's own description, so an edit made in the Web UI is found and undone ("updated", with what
// drifted), and a second apply changes nothing. What kiln applied rides along in the action's memo.
import { ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import type { ScheduleSettings, UpdateSettings } from '../domain/catalog.js';
import { sha256hex } from '../domain/digest.js';
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

/** What `apply` did, and for "updated" every field that differed from what catalog.yaml wants. */
export interface ApplyResult {
  outcome: ApplyOutcome;
  /** e.g. `cron (edited outside kiln)`, `task queue (elsewhere, want kiln)`; empty unless updated. */
  drifted: string[];
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** catalog.yaml durations ("30m", "1h", "1d"; the loader has validated them) in milliseconds. */
function durationMs(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw catalogInvalid(`not a duration: ${text} (fix: write it as e.g. 30m, 1h or 1d)`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** JSON with object keys sorted: the same value always gives the same text. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

interface Wanted {
  options: ScheduleOptions & { action: { type: 'startWorkflow'; workflowType: string } };
  /** What kiln applied (kept in the action memo), including what the server cannot echo back (the cron text). */
  applied: Record<string, unknown>;
  /** What the spec is called in a drift report: the cron, or the interval. */
  specName: 'cron' | 'every';
  catchupWindowMs?: number;
  /** Undefined: catalog.yaml says nothing, so a pause from `kiln schedule pause` stays. */
  paused?: boolean;
}

function nightlyWanted(settings: ScheduleSettings, target: ScheduleTarget): Wanted {
  const applied = { ...settings, taskQueue: target.taskQueue, input: target.input };
  return {
    applied,
    specName: 'cron',
    catchupWindowMs: durationMs(settings.catchupWindow),
    paused: settings.paused,
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
        memo: { kilnSchedule: JSON.stringify(applied) },
      },
      policies: { overlap: OVERLAP[settings.overlap], catchupWindow: settings.catchupWindow },
      ...(settings.paused !== undefined ? { state: { paused: settings.paused } } : {}),
    },
  };
}

/** A Schedule that starts `workflowType` every `every`, never two at once (a slow one must not pile up). */
function everyWanted(workflowType: string, workflowId: string, every: string, target: ScheduleTarget): Wanted {
  const applied = { every, taskQueue: target.taskQueue, input: target.input };
  return {
    applied,
    specName: 'every',
    options: {
      scheduleId: target.scheduleId,
      spec: { intervals: [{ every }] },
      action: {
        type: 'startWorkflow',
        workflowType,
        taskQueue: target.taskQueue,
        args: [target.input],
        workflowId,
        memo: { kilnSchedule: JSON.stringify(applied) },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    },
  };
}

const watchWanted = (updates: UpdateSettings, target: ScheduleTarget): Wanted =>
  everyWanted('upstreamWatch', 'upstream-watch', updates.every, target);

/**
 * The state clean-up (stateCleanup, activities/state-cleanup.ts): every `every` (config
 * KILN_CLEANUP_EVERY), never two at once. Its policy is the worker's (config.retention), not the
 * Schedule's, since it judges the worker's own state directory.
 */
const cleanupWanted = (every: string, target: ScheduleTarget): Wanted =>
  everyWanted('stateCleanup', 'state-cleanup', every, target);

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

/**
 * The server turns a cron into calendars and never echoes the cron text, so kiln cannot compare a
 * cron with what the server holds. It records instead a digest of the spec (all but the timezone)
 * as the server described it right after kiln applied it: a spec edited since (another cron, an
 * added calendar, an interval) no longer has that digest.
 */
function specDigest(d: ScheduleDescription): string {
  const { timezone: _timezone, ...rest } = d.spec;
  return sha256hex(stableJson(rest));
}

interface Memo {
  kilnSchedule?: string;
  kilnSpec?: string;
}

/** Every field kiln sets that differs between the Schedule on the server and what catalog.yaml wants. */
function drift(current: ScheduleDescription, wanted: Wanted): string[] {
  const out: string[] = [];
  const differs = (name: string, have: unknown, want: unknown) => {
    if (stableJson(have) !== stableJson(want))
      out.push(`${name} (${stableJson(have) ?? 'unset'}, want ${stableJson(want)})`);
  };
  const a = current.action;
  const w = wanted.options.action;
  if (a.type !== 'startWorkflow') return ['action (not a workflow start)'];
  const memo = (a.memo ?? {}) as Memo;
  let applied: Record<string, unknown> | undefined;
  try {
    applied = memo.kilnSchedule ? (JSON.parse(memo.kilnSchedule) as Record<string, unknown>) : undefined;
  } catch {
    applied = undefined;
  }
  const specText = wanted.specName === 'cron' ? String(wanted.applied.cron) : String(wanted.applied.every);
  if (!applied) out.push('memo (not applied by kiln)');
  else if (stableJson(applied[wanted.specName]) !== stableJson(specText))
    out.push(`${wanted.specName} (${stableJson(applied[wanted.specName])}, want ${stableJson(specText)})`);
  else if (memo.kilnSpec !== specDigest(current))
    out.push(`${wanted.specName} (not the spec kiln applied: edited outside kiln, want ${stableJson(specText)})`);
  if (wanted.specName === 'cron') differs('timezone', current.spec.timezone ?? '', wanted.options.spec.timezone);
  differs('overlap', current.policies.overlap, wanted.options.policies?.overlap ?? ScheduleOverlapPolicy.SKIP);
  if (wanted.catchupWindowMs !== undefined)
    differs('catch-up window ms', current.policies.catchupWindow, wanted.catchupWindowMs);
  if (wanted.paused !== undefined) differs('paused', current.state.paused, wanted.paused);
  differs('workflow type', a.workflowType, w.workflowType);
  differs('task queue', a.taskQueue, w.taskQueue);
  differs('input', a.args, w.args);
  differs('workflow id', a.workflowId, w.workflowId);
  return [...new Set(out)];
}

/** Records the spec's digest as the server now describes it (see specDigest). */
async function recordSpec(client: Client, id: string): Promise<void> {
  const handle = client.schedule.getHandle(id);
  const spec = specDigest(await handle.describe());
  await handle.update((prev) => ({
    ...prev,
    action: { ...prev.action, memo: { ...(prev.action.memo ?? {}), kilnSpec: spec } },
  }));
}

async function apply(client: Client, wanted: Wanted): Promise<ApplyResult> {
  const id = wanted.options.scheduleId;
  const current = await describeOrUndefined(client, id);
  if (!current) {
    await client.schedule.create(wanted.options);
    await recordSpec(client, id);
    return { outcome: 'created', drifted: [] };
  }
  const drifted = drift(current, wanted);
  if (!drifted.length) return { outcome: 'unchanged', drifted };
  // Update in place (same id): its notes and recent runs stay, and so does a pause unless catalog.yaml says otherwise.
  await client.schedule.getHandle(id).update((prev) => ({
    ...prev,
    spec: wanted.options.spec,
    action: wanted.options.action,
    policies: { ...prev.policies, ...wanted.options.policies },
    state: {
      ...prev.state,
      ...(wanted.paused !== undefined
        ? {
            paused: wanted.paused,
            note: `${wanted.paused ? 'paused' : 'unpaused'} by kiln schedule apply (catalog.yaml)`,
          }
        : {}),
    },
  }));
  await recordSpec(client, id);
  return { outcome: 'updated', drifted };
}

/** Creates or updates the nightly catalogRebuild Schedule from catalog.yaml's `schedule:` block. */
export function applySchedule(
  client: Client,
  settings: ScheduleSettings,
  target: ScheduleTarget,
): Promise<ApplyResult> {
  return apply(client, nightlyWanted(settings, target));
}

/** Creates or updates the upstreamWatch Schedule: every `updates.every`, never two polls at once. */
export function applyWatchSchedule(
  client: Client,
  updates: UpdateSettings,
  target: ScheduleTarget,
): Promise<ApplyResult> {
  return apply(client, watchWanted(updates, target));
}

/** Creates or updates the stateCleanup Schedule: every `every`, never two clean-ups at once. */
export function applyCleanupSchedule(client: Client, every: string, target: ScheduleTarget): Promise<ApplyResult> {
  return apply(client, cleanupWanted(every, target));
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
    ? `cron "${applied.cron}" ${applied.timezone}, overlap ${applied.overlap}, catch-up window ${applied.catchupWindow}${applied.paused === undefined ? '' : `, kept ${applied.paused ? 'paused' : 'active'} by catalog.yaml`}`
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
    const { status, note } = await client.workflow
      .getHandle(wf.workflowId, wf.firstExecutionRunId)
      .describe()
      .then(
        // A clean-up's memo says what it removed and freed (workflows/state-cleanup.ts).
        (x) => ({ status: x.status.name, note: typeof x.memo?.cleanup === 'string' ? `  ${x.memo.cleanup}` : '' }),
        () => ({ status: 'UNKNOWN', note: '' }),
      );
    lines.push(`    ${a.takenAt.toISOString()}  ${wf.workflowId}  ${status}${note}`);
  }
  return lines.join('\n');
}
