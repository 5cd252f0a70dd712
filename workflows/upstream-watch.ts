import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities/index.js';
import { failureMessage } from './failure.js';

export interface UpstreamWatchInput {
  /** Catalog directory on the worker (default: the worker's default catalog). */
  catalogDir?: string;
}

export interface UpstreamWatchResult {
  packages: {
    name: string;
    current?: string;
    latest?: string;
    action: 'up-to-date' | 'updated' | 'update-pending' | 'error';
    branch?: string;
    workflowId?: string;
    error?: string;
  }[];
}

const { listWatchedPackages, proposeUpdate, startPackageUpdate } = proxyActivities<typeof activities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3 },
});

// An upstream that is down or answers garbage is retried a few times, then reported.
const { checkUpstream } = proxyActivities<typeof activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
});

/**
 * Polls every package with a melange `update:` block. A newer upstream release becomes a commit
 * on a branch and a packageUpdate run; one failing source does not stop the others.
 */
export async function upstreamWatch(input: UpstreamWatchInput = {}): Promise<UpstreamWatchResult> {
  const result: UpstreamWatchResult = { packages: [] };
  for (const pkg of await listWatchedPackages({ catalogDir: input.catalogDir })) {
    try {
      const check = await checkUpstream({ catalogDir: input.catalogDir, name: pkg.name });
      if (!check.newer || !check.latest) {
        result.packages.push({ name: pkg.name, current: check.current, latest: check.latest?.version, action: 'up-to-date' });
        continue;
      }
      const proposed = await proposeUpdate({ catalogDir: input.catalogDir, name: pkg.name, version: check.latest.version, commit: check.latest.commit });
      const run = await startPackageUpdate({ name: pkg.name, version: check.latest.version, branch: proposed.branch, catalogDir: proposed.catalogDir });
      result.packages.push({
        name: pkg.name, current: check.current, latest: check.latest.version,
        action: run.started ? 'updated' : 'update-pending', branch: proposed.branch, workflowId: run.workflowId,
      });
    } catch (err) {
      result.packages.push({ name: pkg.name, current: pkg.version, action: 'error', error: failureMessage(err) });
    }
  }
  return result;
}
