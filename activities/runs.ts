// Reads an earlier run's outcome through the worker's Temporal client, for `rerunFailedOf`.
import { getClient } from '@temporalio/activity';
import type { KilnConfig } from '../config/config.js';
import { invalidInput } from '../domain/failures.js';
import type { CatalogRebuildResult } from '../domain/run-summary.js';
import { summaryOfResult } from '../io/run-summary-store.js';

export interface PreviousFailures {
  /** False when the earlier run ended without a summary (failed, terminated): rebuild everything. */
  hasSummary: boolean;
  packages: string[];
  images: string[];
}

export async function previousRunFailures(
  config: KilnConfig,
  input: { workflowId: string },
): Promise<PreviousFailures> {
  const handle = getClient().workflow.getHandle(input.workflowId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    throw invalidInput(
      `rerunFailedOf: no run with workflow id "${input.workflowId}" (${(err as Error).message}); fix: copy the id from the Web UI's workflow list`,
    );
  }
  if (status === 'RUNNING') {
    throw invalidInput(`rerunFailedOf: run "${input.workflowId}" is still running; wait for it to finish`);
  }
  if (status !== 'COMPLETED') return { hasSummary: false, packages: [], images: [] };
  // Its summary is stored where its result names it (or is the result itself, for an older run).
  const summary = await summaryOfResult(config, (await handle.result()) as CatalogRebuildResult);
  const bad = (s: string) => s === 'failed' || s === 'blocked';
  return {
    hasSummary: true,
    packages: summary.packages.filter((p) => bad(p.status)).map((p) => p.name),
    images: summary.images.filter((i) => bad(i.status)).map((i) => i.name),
  };
}
