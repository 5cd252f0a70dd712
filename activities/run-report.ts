// The run report: a static HTML page per catalogRebuild run (domain/report-html.ts), written under
// the state directory at reports/<workflowId>/<runId>.html. The summary has each package's and
// image's duration only; the stages' timings come from the run's history and its children's, read
// through the worker's client. Without them (history unreadable) the page draws what the summary has.
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Context, getClient } from '@temporalio/activity';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { KilnConfig } from '../config/config.js';
import { sha256hex } from '../domain/digest.js';
import { renderRunReport } from '../domain/report-html.js';
import {
  eventsOfRuns,
  runTimeline,
  spansOf,
  type RunTimeline,
  type SpanOutcome,
  type TimelineEvent,
} from '../domain/run-timeline.js';
import type { RebuildSummary } from '../domain/summary.js';
import { writeFileAtomically } from '../io/atomic-file.js';

export interface RunReportInput {
  /** The run's summary, as catalogRebuild returns it (it names the run: workflowId, runId). */
  summary: RebuildSummary;
}

export interface RunReport {
  /** The HTML file, under `<state>/reports/`. */
  path: string;
  /** `stages`: the timeline has every stage from the histories; `durations`: the summary's only. */
  timeline: 'stages' | 'durations';
}

/** Children whose histories are read for their stages; a bigger run lists the rest without them. */
const MAX_CHILD_HISTORIES = 2000;
const HISTORY_READS_AT_ONCE = 8;

export async function writeRunReport(config: KilnConfig, input: RunReportInput): Promise<RunReport> {
  const { summary } = input;
  const { timeline, note } = await readTimeline(summary);
  const page = renderRunReport({
    summary,
    webUi: config.temporal.webUi,
    namespace: config.temporal.namespace,
    ...(timeline ? { timeline } : {}),
    ...(note ? { timelineNote: note } : {}),
    generatedAt: new Date().toISOString(),
  });
  const path = reportPath(config, summary);
  // Written aside and renamed: a reader never sees half a page, and a rewrite replaces it whole.
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomically(path, page, { mode: 0o644 });
  return { path, timeline: timeline ? 'stages' : 'durations' };
}

/** `<state>/reports/<workflowId>/<runId>.html`, each id made a safe file name. */
export function reportPath(config: KilnConfig, run: { workflowId: string; runId: string }): string {
  return join(config.paths.state, 'reports', fileName(run.workflowId), `${fileName(run.runId)}.html`);
}

/**
 * An id as one file name: percent-encoded (so `/` cannot make a directory), a leading `.` encoded
 * (so `.` and `..` cannot climb), and a long id shortened with its digest (names stay under 255 bytes).
 */
export function fileName(id: string): string {
  const encoded = encodeURIComponent(id).replace(/^\./, '%2E');
  return encoded.length <= 180 ? encoded : `${encoded.slice(0, 150)}-${sha256hex(id).slice(0, 16)}`;
}

async function readTimeline(summary: RebuildSummary): Promise<{ timeline?: RunTimeline; note?: string }> {
  let client: Client;
  try {
    client = getClient();
  } catch {
    return { note: 'this report was written without a Temporal client, so the run’s history was not read' };
  }
  // Every run of the rebuild (it continues-as-new on a long history), oldest first.
  const histories: History[] = [];
  for (const runId of [...(summary.continuedFrom ?? []), summary.runId]) {
    try {
      histories.push(await client.workflow.getHandle(summary.workflowId, runId).fetchHistory());
    } catch (err) {
      return { note: `the run’s history could not be read (${(err as Error).message})` };
    }
  }
  const events = eventsOfRuns(histories.map(timelineEvents));
  const started =
    ms(histories[0]!.events?.find((e) => e.workflowExecutionStartedEventAttributes)?.eventTime) ??
    Date.parse(summary.startedAt);
  const children = spansOf(events).children.filter((c) => c.runId);
  const read = new Map<string, TimelineEvent[]>();
  const key = (c: { workflowId: string; runId?: string }) => `${c.workflowId}\n${c.runId}`;
  const wanted = children.slice(0, MAX_CHILD_HISTORIES);
  for (let i = 0; i < wanted.length; i += HISTORY_READS_AT_ONCE) {
    heartbeat();
    await Promise.all(
      wanted.slice(i, i + HISTORY_READS_AT_ONCE).map(async (c) => {
        // A child whose history cannot be read is drawn without its stages (and counted on the page).
        const h = await client.workflow
          .getHandle(c.workflowId, c.runId)
          .fetchHistory()
          .catch(() => undefined);
        if (h) read.set(key(c), timelineEvents(h));
      }),
    );
  }
  return { timeline: runTimeline(started, events, (c) => read.get(key(c))) };
}

function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // Not in an activity (a test calling the function): nothing to tell.
  }
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

type Int64 = { toNumber(): number } | number | null | undefined;

/** A protobuf int64 (a Long, or a number) as a number. */
const num = (v: Int64): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

/** A protobuf Timestamp as milliseconds since the epoch. */
const ms = (t: HistoryEvent['eventTime']): number | undefined =>
  t ? num(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;

/** The events a timeline reads, from a Temporal history; every other event is left out. */
export function timelineEvents(history: History): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  for (const e of history.events ?? []) {
    const event = timelineEvent(e);
    if (event) out.push(event);
  }
  return out;
}

function timelineEvent(e: HistoryEvent): TimelineEvent | undefined {
  const id = num(e.eventId);
  const time = ms(e.eventTime) ?? 0;
  const closedActivity = (a: { scheduledEventId?: Int64 } | null | undefined, outcome: SpanOutcome) =>
    a ? ({ kind: 'activity-closed', id, time, scheduledId: num(a.scheduledEventId), outcome } as const) : undefined;
  const closedChild = (a: { initiatedEventId?: Int64 } | null | undefined, outcome: SpanOutcome) =>
    a ? ({ kind: 'child-closed', id, time, initiatedId: num(a.initiatedEventId), outcome } as const) : undefined;
  if (e.activityTaskScheduledEventAttributes)
    return {
      kind: 'activity-scheduled',
      id,
      time,
      activityType: e.activityTaskScheduledEventAttributes.activityType?.name ?? 'activity',
    };
  if (e.activityTaskStartedEventAttributes)
    return {
      kind: 'activity-started',
      id,
      time,
      scheduledId: num(e.activityTaskStartedEventAttributes.scheduledEventId),
      attempt: e.activityTaskStartedEventAttributes.attempt ?? 1,
    };
  if (e.startChildWorkflowExecutionInitiatedEventAttributes)
    return {
      kind: 'child-initiated',
      id,
      time,
      workflowId: e.startChildWorkflowExecutionInitiatedEventAttributes.workflowId ?? '',
      workflowType: e.startChildWorkflowExecutionInitiatedEventAttributes.workflowType?.name ?? 'workflow',
    };
  if (e.startChildWorkflowExecutionFailedEventAttributes)
    return {
      kind: 'child-start-failed',
      id,
      time,
      initiatedId: num(e.startChildWorkflowExecutionFailedEventAttributes.initiatedEventId),
    };
  if (e.childWorkflowExecutionStartedEventAttributes)
    return {
      kind: 'child-started',
      id,
      time,
      initiatedId: num(e.childWorkflowExecutionStartedEventAttributes.initiatedEventId),
      runId: e.childWorkflowExecutionStartedEventAttributes.workflowExecution?.runId ?? '',
    };
  return (
    closedActivity(e.activityTaskCompletedEventAttributes, 'ok') ??
    closedActivity(e.activityTaskFailedEventAttributes, 'failed') ??
    closedActivity(e.activityTaskTimedOutEventAttributes, 'timed-out') ??
    closedActivity(e.activityTaskCanceledEventAttributes, 'cancelled') ??
    closedChild(e.childWorkflowExecutionCompletedEventAttributes, 'ok') ??
    closedChild(e.childWorkflowExecutionFailedEventAttributes, 'failed') ??
    closedChild(e.childWorkflowExecutionTimedOutEventAttributes, 'timed-out') ??
    closedChild(e.childWorkflowExecutionCanceledEventAttributes, 'cancelled') ??
    closedChild(e.childWorkflowExecutionTerminatedEventAttributes, 'terminated')
  );
}
