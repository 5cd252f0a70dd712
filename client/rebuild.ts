// Starting one catalogRebuild and following it to the end: its progress from the `progress` query
// every two seconds while it runs, then its summary, or why it failed before building anything.
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { KilnConfig } from '../config/config.js';
import type { RebuildSummary } from '../domain/summary.js';
import { summaryOfResult } from '../io/run-summary-store.js';
import {
  catalogRebuild,
  progressQuery,
  type RebuildInput,
  type RebuildProgress,
} from '../workflows/catalog-rebuild.js';

export type RebuildOutcome = { summary: RebuildSummary; error?: undefined } | { summary?: undefined; error: string };

export interface FollowOptions {
  /** Default `catalog-rebuild-<time>`. */
  workflowId?: string;
  /** Called once the run has started. */
  onStart?: (workflowId: string) => void;
  /** Called with the run's progress at every poll. */
  onProgress?: (progress: RebuildProgress) => void;
  pollMs?: number;
}

/** A new run's id: `catalog-rebuild-<ISO time>` with the punctuation ids dislike replaced. */
export function rebuildWorkflowId(now = new Date()): string {
  return `catalog-rebuild-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/**
 * Starts catalogRebuild with this input on the configured task queue and waits for it, through
 * every run when it continues-as-new; its summary is read from the store its result names. A run
 * that fails gives its cause's message.
 */
export async function startAndFollowRebuild(
  client: Client,
  config: KilnConfig,
  input: RebuildInput,
  o: FollowOptions = {},
): Promise<RebuildOutcome> {
  const workflowId = o.workflowId ?? rebuildWorkflowId();
  const handle = await client.workflow.start(catalogRebuild, {
    workflowId,
    taskQueue: config.temporal.taskQueue,
    args: [input],
  });
  o.onStart?.(workflowId);
  const onProgress = o.onProgress;
  const ticker = onProgress
    ? setInterval(() => {
        handle.query(progressQuery).then(onProgress, () => undefined);
      }, o.pollMs ?? 2_000)
    : undefined;
  let result;
  try {
    result = await handle.result();
  } catch (err) {
    return { error: err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : String(err) };
  } finally {
    clearInterval(ticker);
  }
  return { summary: await summaryOfResult(config, result) };
}

/** The items whose state changed since the last call (`last` is updated), for a line-per-change display. */
export function progressChanges(progress: RebuildProgress, last: Map<string, string>): [item: string, state: string][] {
  const changed: [string, string][] = [];
  for (const [item, state] of Object.entries(progress.items)) {
    if (last.get(item) === state) continue;
    last.set(item, state);
    changed.push([item, state]);
  }
  return changed;
}
