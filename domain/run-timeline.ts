// A run's timeline, pure: when each package and image ran and, inside it, each stage (activity)
// and nested workflow (the publish turn), read from workflow history events. The summary carries
// only each package's and image's total duration; the history has every stage's schedule, start
// and end, so the run report (activities/run-report.ts) reads the run's history and its children's.

/** The few facts of one history event a timeline needs (activities/run-report.ts maps Temporal's events). */
export type TimelineEvent =
  | { kind: 'activity-scheduled'; id: number; time: number; activityType: string }
  | { kind: 'activity-started'; id: number; time: number; scheduledId: number; attempt: number }
  | { kind: 'activity-closed'; id: number; time: number; scheduledId: number; outcome: SpanOutcome }
  | { kind: 'child-initiated'; id: number; time: number; workflowId: string; workflowType: string }
  | { kind: 'child-start-failed'; id: number; time: number; initiatedId: number }
  | { kind: 'child-started'; id: number; time: number; initiatedId: number; runId: string }
  | { kind: 'child-closed'; id: number; time: number; initiatedId: number; outcome: SpanOutcome };

export type SpanOutcome = 'ok' | 'failed' | 'timed-out' | 'cancelled' | 'terminated' | 'running';

/** One stage: an activity (all its attempts) or a workflow started by this one. */
export interface StageSpan {
  /** The activity type (buildPackage, pushImage...) or the workflow type (publishTurn). */
  stage: string;
  kind: 'activity' | 'workflow';
  /** Asked for (an activity scheduled, a child first requested): it may wait in a queue or for a turn. */
  scheduledAt: number;
  /** Its last attempt began (an activity), or it started (a workflow). */
  startedAt?: number;
  /** Unset while it runs. */
  endedAt?: number;
  /** Activity attempts (1 unless retried). */
  attempts: number;
  outcome: SpanOutcome;
}

/** A workflow started by the run (a packageBuild or imageBuild), with its own stages when read. */
export interface ChildSpan {
  workflowId: string;
  runId?: string;
  workflowType: string;
  scheduledAt: number;
  startedAt?: number;
  endedAt?: number;
  outcome: SpanOutcome;
  stages: StageSpan[];
}

/** Activities and workflows started in one history, in the order they were asked for. */
export function spansOf(events: TimelineEvent[]): { activities: StageSpan[]; children: ChildSpan[] } {
  const activities = new Map<number, StageSpan>();
  const children = new Map<number, ChildSpan>();
  // A child whose start was refused (its id is taken, as a busy publish turn is) is asked for again:
  // the span of the start that succeeds begins at the first request.
  const firstAsked = new Map<string, number>();
  const refused = new Set<number>();
  for (const e of events) {
    switch (e.kind) {
      case 'activity-scheduled':
        activities.set(e.id, {
          stage: e.activityType,
          kind: 'activity',
          scheduledAt: e.time,
          attempts: 1,
          outcome: 'running',
        });
        break;
      case 'activity-started': {
        const a = activities.get(e.scheduledId);
        if (a) Object.assign(a, { startedAt: e.time, attempts: Math.max(1, e.attempt) });
        break;
      }
      case 'activity-closed': {
        const a = activities.get(e.scheduledId);
        if (a) Object.assign(a, { endedAt: e.time, outcome: e.outcome });
        break;
      }
      case 'child-initiated': {
        if (!firstAsked.has(e.workflowId)) firstAsked.set(e.workflowId, e.time);
        children.set(e.id, {
          workflowId: e.workflowId,
          workflowType: e.workflowType,
          scheduledAt: firstAsked.get(e.workflowId)!,
          outcome: 'running',
          stages: [],
        });
        break;
      }
      case 'child-start-failed':
        refused.add(e.initiatedId);
        break;
      case 'child-started': {
        const c = children.get(e.initiatedId);
        if (c) Object.assign(c, { startedAt: e.time, runId: e.runId });
        break;
      }
      case 'child-closed': {
        const c = children.get(e.initiatedId);
        if (c) Object.assign(c, { endedAt: e.time, outcome: e.outcome });
        break;
      }
    }
  }
  for (const id of refused) children.delete(id);
  return { activities: [...activities.values()], children: [...children.values()] };
}

/**
 * A child's stages: its activities and the workflows it started (a publish turn spans the wait for
 * the turn and the time it was held), in the order they were asked for.
 */
export function stagesOf(events: TimelineEvent[]): StageSpan[] {
  const { activities, children } = spansOf(events);
  const nested = children.map((c): StageSpan => ({
    stage: c.workflowType,
    kind: 'workflow',
    scheduledAt: c.scheduledAt,
    ...(c.startedAt !== undefined ? { startedAt: c.startedAt } : {}),
    ...(c.endedAt !== undefined ? { endedAt: c.endedAt } : {}),
    attempts: 1,
    outcome: c.outcome,
  }));
  return [...activities, ...nested].sort((a, b) => a.scheduledAt - b.scheduledAt);
}

/** What the run report draws: the run's own stages, and each child with its stages. */
export interface RunTimeline {
  /** The run's start (its first event) and the last moment any event records. */
  startedAt: number;
  endedAt: number;
  /** The run's own activities (snapshotCatalog, the report itself...). */
  stages: StageSpan[];
  children: ChildSpan[];
  /** Children whose own history was not read (too many, or unreadable): their stages are missing. */
  childrenWithoutStages: number;
}

/** The latest moment a span records (its end, else its start, else when it was asked for). */
export const spanEnd = (s: { scheduledAt: number; startedAt?: number; endedAt?: number }): number =>
  s.endedAt ?? s.startedAt ?? s.scheduledAt;

/** The run's timeline from its history, and each child's stages from the child's history (when read). */
export function runTimeline(
  runStartedAt: number,
  runEvents: TimelineEvent[],
  childEvents: (child: ChildSpan) => TimelineEvent[] | undefined,
): RunTimeline {
  const { activities, children } = spansOf(runEvents);
  let without = 0;
  for (const c of children) {
    const events = childEvents(c);
    if (events) c.stages = stagesOf(events);
    else without += 1;
  }
  // A loop, not Math.max(...): a large run has more events than a call takes arguments.
  let endedAt = runStartedAt;
  for (const e of runEvents) endedAt = Math.max(endedAt, e.time);
  for (const c of children) for (const s of [c, ...c.stages]) endedAt = Math.max(endedAt, spanEnd(s));
  return {
    startedAt: runStartedAt,
    endedAt,
    stages: activities,
    children,
    childrenWithoutStages: without,
  };
}

/**
 * The events of a rebuild's runs (it continued-as-new), oldest first, as one history: each run's
 * event ids are moved past the previous run's, so an activity or child is matched within its run.
 */
export function eventsOfRuns(runs: TimelineEvent[][]): TimelineEvent[] {
  const out: TimelineEvent[] = [];
  let offset = 0;
  for (const events of runs) {
    let last = 0;
    for (const e of events) {
      last = Math.max(last, e.id);
      const moved = { ...e, id: e.id + offset };
      if ('scheduledId' in moved) moved.scheduledId += offset;
      if ('initiatedId' in moved) moved.initiatedId += offset;
      out.push(moved);
    }
    offset += last;
  }
  return out;
}
