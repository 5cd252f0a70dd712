// A run's timeline from history events: stages with their waits and attempts, children whose
// start was refused while another run held the turn, and what is still running.
import { describe, expect, it } from 'vitest';
import { eventsOfRuns, runTimeline, spansOf, stagesOf, type TimelineEvent } from '../../../domain/run-timeline.js';

const T = 1_000_000;

describe('spansOf', () => {
  it('times an activity from its scheduling to its end, with its last attempt’s start and its attempts', () => {
    const events: TimelineEvent[] = [
      { kind: 'activity-scheduled', id: 5, time: T, activityType: 'buildPackage' },
      { kind: 'activity-started', id: 6, time: T + 4000, scheduledId: 5, attempt: 3 },
      { kind: 'activity-closed', id: 7, time: T + 9000, scheduledId: 5, outcome: 'ok' },
      { kind: 'activity-scheduled', id: 8, time: T + 9000, activityType: 'testPackage' },
    ];
    expect(spansOf(events).activities).toEqual([
      {
        stage: 'buildPackage',
        kind: 'activity',
        scheduledAt: T,
        startedAt: T + 4000,
        endedAt: T + 9000,
        attempts: 3,
        outcome: 'ok',
      },
      { stage: 'testPackage', kind: 'activity', scheduledAt: T + 9000, attempts: 1, outcome: 'running' },
    ]);
  });

  it('starts a child that was refused (its id taken) at its first request, and drops the refused starts', () => {
    const events: TimelineEvent[] = [
      { kind: 'child-initiated', id: 10, time: T, workflowId: 'kiln-publish/r', workflowType: 'publishTurn' },
      { kind: 'child-start-failed', id: 11, time: T + 10, initiatedId: 10 },
      { kind: 'child-initiated', id: 14, time: T + 2000, workflowId: 'kiln-publish/r', workflowType: 'publishTurn' },
      { kind: 'child-started', id: 15, time: T + 2010, initiatedId: 14, runId: 'r1' },
      { kind: 'child-closed', id: 30, time: T + 8000, initiatedId: 14, outcome: 'ok' },
    ];
    expect(spansOf(events).children).toEqual([
      {
        workflowId: 'kiln-publish/r',
        runId: 'r1',
        workflowType: 'publishTurn',
        scheduledAt: T,
        startedAt: T + 2010,
        endedAt: T + 8000,
        outcome: 'ok',
        stages: [],
      },
    ]);
    expect(stagesOf(events)).toEqual([
      {
        stage: 'publishTurn',
        kind: 'workflow',
        scheduledAt: T,
        startedAt: T + 2010,
        endedAt: T + 8000,
        attempts: 1,
        outcome: 'ok',
      },
    ]);
  });
});

describe('runTimeline', () => {
  it('gives each child its stages when its history was read, counts the others, and ends at the last event', () => {
    const run: TimelineEvent[] = [
      { kind: 'child-initiated', id: 1, time: T, workflowId: 'wf/package/a', workflowType: 'packageBuild' },
      { kind: 'child-started', id: 2, time: T + 5, initiatedId: 1, runId: 'ra' },
      { kind: 'child-initiated', id: 3, time: T, workflowId: 'wf/package/b', workflowType: 'packageBuild' },
      { kind: 'child-started', id: 4, time: T + 5, initiatedId: 3, runId: 'rb' },
      { kind: 'child-closed', id: 5, time: T + 3000, initiatedId: 3, outcome: 'failed' },
    ];
    const a: TimelineEvent[] = [
      { kind: 'activity-scheduled', id: 5, time: T + 10, activityType: 'buildPackage' },
      { kind: 'activity-started', id: 6, time: T + 20, scheduledId: 5, attempt: 1 },
    ];
    const timeline = runTimeline(T - 100, run, (c) => (c.workflowId === 'wf/package/a' ? a : undefined));
    expect(timeline.startedAt).toBe(T - 100);
    expect(timeline.endedAt).toBe(T + 3000);
    expect(timeline.childrenWithoutStages).toBe(1);
    expect(timeline.children.map((c) => [c.workflowId, c.outcome, c.stages.map((s) => [s.stage, s.outcome])])).toEqual([
      ['wf/package/a', 'running', [['buildPackage', 'running']]],
      ['wf/package/b', 'failed', []],
    ]);
  });
});

describe('eventsOfRuns', () => {
  it('reads the runs of a rebuild that continued-as-new as one history: each run’s ids matched within it', () => {
    // Both runs number their events from 1: the second run's child must not close the first's.
    const first: TimelineEvent[] = [
      { kind: 'child-initiated', id: 5, time: T, workflowId: 'r/package/a', workflowType: 'packageBuild' },
      { kind: 'child-started', id: 6, time: T + 10, initiatedId: 5, runId: 'a1' },
      { kind: 'child-closed', id: 9, time: T + 1000, initiatedId: 5, outcome: 'ok' },
    ];
    const second: TimelineEvent[] = [
      { kind: 'activity-scheduled', id: 5, time: T + 2000, activityType: 'finishRunSummary' },
      { kind: 'child-initiated', id: 6, time: T + 2000, workflowId: 'r/image/x', workflowType: 'imageBuild' },
      { kind: 'child-started', id: 9, time: T + 2010, initiatedId: 6, runId: 'x1' },
    ];
    const { activities, children } = spansOf(eventsOfRuns([first, second]));
    expect(children.map((c) => [c.workflowId, c.outcome, c.endedAt])).toEqual([
      ['r/package/a', 'ok', T + 1000],
      ['r/image/x', 'running', undefined],
    ]);
    expect(activities.map((a) => [a.stage, a.outcome])).toEqual([['finishRunSummary', 'running']]);
  });
});
