// Reads an earlier run's outcome through the worker's Temporal client, for `rerunFailedOf`.
import { getClient } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { RebuildSummary } from '../domain/summary.js';

export interface PreviousFailures {
  /** False when the earlier run ended without a summary (failed, terminated): rebuild everything. */
  hasSummary: boolean;
  packages: string[];
  images: string[];
}

export async function previousRunFailures(input: { workflowId: string }): Promise<PreviousFailures> {
  const handle = getClient().workflow.getHandle(input.workflowId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`rerunFailedOf: no run with workflow id "${input.workflowId}" (${(err as Error).message}); fix: copy the id from the Web UI's workflow list`, 'InvalidInput');
  }
  if (status === 'RUNNING') {
    throw ApplicationFailure.nonRetryable(`rerunFailedOf: run "${input.workflowId}" is still running; wait for it to finish`, 'InvalidInput');
  }
  if (status !== 'COMPLETED') return { hasSummary: false, packages: [], images: [] };
  const summary = (await handle.result()) as RebuildSummary;
  const bad = (s: string) => s === 'failed' || s === 'blocked';
  return {
    hasSummary: true,
    packages: summary.packages.filter((p) => bad(p.status)).map((p) => p.name),
    images: summary.images.filter((i) => bad(i.status)).map((i) => i.name),
  };
}
