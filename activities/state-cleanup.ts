// The state clean-up (`stateCleanup`, run by the `kiln-cleanup` Schedule): removes the build
// directories, OCI layouts, catalog snapshots and worktrees under this worker's KILN_STATE that the
// retention policy (domain/retention.ts, config.retention) no longer keeps.
//
// "Never deletes what a running workflow references" is asked of Temporal, not guessed from disk:
// every workflow still running on kiln's task queue counts, with its start time (anything used since
// then may be its own), the paths its input names (a snapshot, a worktree's catalog) and the
// snapshot digest in its memo. An in-use marker on disk could not tell a crashed worker's leftovers
// from a live run's files; Temporal knows which runs are alive. The last runs come from Temporal's
// visibility store too, so the state directory needs no bookkeeping of its own.
import { Context, getClient } from '@temporalio/activity';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { KilnConfig } from '../config/config.js';
import {
  cleanupLine,
  decideRetention,
  type CleanupReport,
  type KeepReason,
  type StateReferences,
} from '../domain/retention.js';
import { pruneWorktrees, worktreeRepository } from '../adapters/git.js';
import { listStateEntries, removeEntry } from '../io/state-entries.js';
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

/** The workflow type that runs this activity: its own run is not one to protect. */
export const CLEANUP_WORKFLOW = 'stateCleanup';

/** How many ended runs are read from Temporal at most (far more than any sensible KILN_RETAIN_RUNS). */
const CLOSED_RUNS_READ = 1000;

export interface StateCleanupResult extends CleanupReport {
  /** The worker's state directory this clean-up judged. */
  state: string;
  /** cleanupLine: what a person reads at a glance. */
  line: string;
}

/** Every absolute path among the string values of a workflow's input. */
function pathsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string' && value.startsWith('/')) out.push(value.replace(/\/+$/, ''));
  else if (Array.isArray(value)) for (const v of value) pathsIn(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) pathsIn(v, out);
  return out;
}

/** A workflow's input, from the first event of its history (one event read, however long it is). */
async function workflowInput(client: Client, namespace: string, info: WorkflowExecutionInfo): Promise<unknown[]> {
  const page = await client.workflowService.getWorkflowExecutionHistory({
    namespace,
    execution: { workflowId: info.workflowId, runId: info.runId },
    maximumPageSize: 1,
  });
  const payloads = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  return payloads.map((p) => defaultPayloadConverter.fromPayload(p));
}

const memoDigest = (info: WorkflowExecutionInfo): string | undefined => {
  const d = info.memo?.catalogDigest;
  return typeof d === 'string' ? d : undefined;
};

/**
 * When the run an execution belongs to began: a run that continued as new is several executions
 * under one workflow id, and what its first ones used is still the run's. (An id reused by a later
 * run merges with the earlier one: it only keeps more.)
 */
async function runStart(client: Client, info: WorkflowExecutionInfo): Promise<number> {
  let start = info.startTime.getTime();
  const id = info.workflowId.replaceAll('"', '\\"');
  for await (const earlier of client.workflow.list({
    query: `WorkflowId="${id}" AND ExecutionStatus="ContinuedAsNew"`,
  }))
    start = Math.min(start, earlier.startTime.getTime());
  return start;
}

/** What Temporal says runs and ran on kiln's task queue, now. */
async function references(config: KilnConfig, now: number): Promise<StateReferences> {
  const client = getClient();
  const { taskQueue, namespace } = config.temporal;
  const refs: StateReferences = { now, closedRunStarts: [], runningStarts: [], runningPaths: [], snapshotDigests: [] };
  const runningIds = new Set<string>();
  for await (const info of client.workflow.list({
    query: `TaskQueue="${taskQueue}" AND ExecutionStatus="Running"`,
  })) {
    if (info.type === CLEANUP_WORKFLOW) continue;
    runningIds.add(info.workflowId);
    refs.runningStarts.push(await runStart(client, info));
    const paths = pathsIn(await workflowInput(client, namespace, info));
    refs.runningPaths.push(...paths);
    // A snapshot named by another worker's path is this worker's copy of the same digest (io/snapshot-store.ts).
    for (const p of paths)
      refs.snapshotDigests.push(...(/\/snapshots\/(?:.+\/)?([0-9a-f]{64})$/.exec(p)?.slice(1) ?? []));
    const digest = memoDigest(info);
    if (digest) refs.snapshotDigests.push(digest);
  }
  // Ended runs, one per workflow id (its executions merged), newest first; a running run's earlier
  // executions (continued as new) are not an ended run.
  const runs = new Map<string, { start: number; digests: string[] }>();
  let read = 0;
  for await (const info of client.workflow.list({
    query: `WorkflowType="catalogRebuild" AND TaskQueue="${taskQueue}" AND ExecutionStatus!="Running"`,
  })) {
    if (runningIds.has(info.workflowId)) continue;
    const run = runs.get(info.workflowId) ?? { start: Infinity, digests: [] };
    run.start = Math.min(run.start, info.startTime.getTime());
    const digest = memoDigest(info);
    if (digest) run.digests.push(digest);
    runs.set(info.workflowId, run);
    if (++read >= CLOSED_RUNS_READ) break;
  }
  const newest = [...runs.values()].sort((a, b) => b.start - a.start);
  refs.closedRunStarts = newest.map((r) => r.start);
  for (const r of newest.slice(0, config.retention.keepRuns)) refs.snapshotDigests.push(...r.digests);
  return refs;
}

/** Temporal's TASK_QUEUE_TYPE_ACTIVITY (the proto enums are not a kiln dependency). */
const ACTIVITY_QUEUE = 2;

/**
 * Every worker's own task queue, from the pollers of the shared queue: each worker names its queue
 * in its identity (workers/worker.ts). Workers that share no disk each have a state directory to
 * clean; Temporal lists the pollers it has seen in the last minutes, so a worker that just died may
 * still be named (the workflow then reports it unreached).
 */
export async function stateWorkers(config: KilnConfig): Promise<string[]> {
  const { taskQueue, namespace } = config.temporal;
  const res = await getClient().workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: ACTIVITY_QUEUE,
  });
  const queues = (res.pollers ?? []).map((p) => p.identity?.split(' ')[1] ?? '');
  return [...new Set(queues.filter((q) => q.startsWith(`${taskQueue}@`)))].sort();
}

/** A linked worktree's repository, read before its directory goes (to prune it after). */
function linkedRepository(path: string): Promise<string | undefined> {
  const marker = join(path, '.git');
  // Only a linked worktree has a `.git` file; anything else must not send git looking in a parent.
  return existsSync(marker) && lstatSync(marker).isFile() ? worktreeRepository(path) : Promise.resolve(undefined);
}

/** Judges this worker's state directory and removes what the policy does not keep. */
export async function cleanState(config: KilnConfig, _input: Record<string, never> = {}): Promise<StateCleanupResult> {
  const heartbeat = (details: unknown) => Context.current().heartbeat(details);
  const entries = await listStateEntries(config.paths);
  // Asked after listing: a run that starts in between marks what it reuses, which removeEntry sees.
  const refs = await references(config, Date.now());
  const decision = decideRetention(entries, refs, config.retention);
  const kept: Record<KeepReason, number> = { running: 0, 'recent-runs': 0, 'min-age': 0 };
  for (const k of decision.keep) kept[k.reason]++;
  const report: CleanupReport = {
    removed: [],
    bytesFreed: 0,
    kept,
    keptBytes: decision.keep.reduce((n, k) => n + k.entry.bytes, 0),
    skipped: [],
    runsJudged: decision.runsJudged,
    policy: config.retention,
  };
  const pruned = new Set<string>();
  for (const e of decision.remove) {
    heartbeat({ removing: e.path, removed: report.removed.length, of: decision.remove.length });
    const repo = e.kind === 'worktree' ? await linkedRepository(e.path) : undefined;
    const outcome = await removeEntry(e);
    if (outcome === 'used-again') report.skipped.push(e.path);
    if (outcome !== 'removed') continue;
    report.removed.push({ kind: e.kind, path: e.path, bytes: e.bytes });
    report.bytesFreed += e.bytes;
    if (repo) pruned.add(repo);
  }
  // The repository forgets the removed worktrees, so a later update can add one at the same path.
  for (const repo of pruned) await pruneWorktrees(repo);
  return { ...report, state: config.paths.state, line: cleanupLine(report) };
}
