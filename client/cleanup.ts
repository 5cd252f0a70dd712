// Runs the state clean-up (workflows/state-cleanup.ts) now, as its Schedule would, and says what it
// did: the one-line summary, then each removed entry with its size, largest first.
import type { Client } from '@temporalio/client';
import type { StateCleanupResult } from '../activities/state-cleanup.js';
import type { StateCleanupSummary } from '../workflows/state-cleanup.js';
import { formatBytes } from '../domain/retention.js';

/** How many removed entries the report lists by name (the rest are counted). */
const LISTED = 20;

export function cleanupText(r: StateCleanupResult): string {
  const removed = [...r.removed].sort((a, b) => b.bytes - a.bytes);
  const lines = [`state clean-up of ${r.state}: ${r.line}`];
  for (const e of removed.slice(0, LISTED))
    lines.push(`  ${formatBytes(e.bytes).padStart(10)}  ${e.kind.padEnd(8)} ${e.path}`);
  if (removed.length > LISTED) lines.push(`  ... and ${removed.length - LISTED} more`);
  return lines.join('\n');
}

export async function cleanupReport(client: Client, taskQueue: string): Promise<string> {
  const summary = (await client.workflow.execute('stateCleanup', {
    taskQueue,
    workflowId: `state-cleanup-now-${Date.now()}`,
    args: [{}],
  })) as StateCleanupSummary;
  return [
    ...summary.workers.map(cleanupText),
    ...summary.unreached.map((u) => `worker queue ${u.queue}: not reached (${u.error})`),
  ].join('\n');
}
