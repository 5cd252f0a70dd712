// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// stateCleanup: the retention policy applied to every worker's KILN_STATE (activities/state-cleanup.ts
// decides with Temporal's view of running and recent runs; domain/retention.ts holds the rules).
// Started by the `kiln-cleanup` Schedule (client/schedules.ts) or `kiln schedule clean`.
import { ActivityFailure, proxyActivities, upsertMemo } from '@temporalio/workflow';
import type { KilnActivities } from '../activities/index.js';
import type { StateCleanupResult } from '../activities/state-cleanup.js';

const { stateWorkers } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
});

/** cleanState on one queue: a worker's own, or the shared one when no worker names its own. */
const cleaner = (taskQueue?: string) =>
  proxyActivities<KilnActivities>({
    ...(taskQueue ? { taskQueue } : {}),
    // A live worker always has a poller waiting on its own queue, so it starts at once; a worker
    // still listed among the pollers but gone since never takes it: reported, not waited for long.
    scheduleToStartTimeout: '1 minute',
    // Removing a large state directory takes a while; it heartbeats per entry.
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
  }).cleanState;

export interface StateCleanupSummary {
  /** One result per worker state directory cleaned. */
  workers: StateCleanupResult[];
  /** Workers' queues that did not answer, with why. */
  unreached: { queue: string; error: string }[];
}

/** Removes what the retention policy no longer keeps; the memo says what went and what it freed. */
export async function stateCleanup(): Promise<StateCleanupSummary> {
  const queues = await stateWorkers();
  const summary: StateCleanupSummary = { workers: [], unreached: [] };
  const runs = (queues.length ? queues : [undefined]).map(async (queue) => {
    try {
      summary.workers.push(await cleaner(queue)({}));
    } catch (err) {
      if (!(err instanceof ActivityFailure) || !queue) throw err;
      summary.unreached.push({ queue, error: err.cause?.message ?? err.message });
    }
  });
  await Promise.all(runs);
  summary.workers.sort((a, b) => a.state.localeCompare(b.state));
  upsertMemo({
    cleanup: [
      ...summary.workers.map((w) => (summary.workers.length > 1 ? `${w.state}: ${w.line}` : w.line)),
      ...summary.unreached.map((u) => `${u.queue}: not reached (${u.error})`),
    ].join(' | '),
  });
  return summary;
}
