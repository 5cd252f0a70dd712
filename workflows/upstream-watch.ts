// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// upstreamWatch: poll watched packages' upstreams; a new release becomes a branch and a packageUpdate.
import { proxyActivities } from '@temporalio/workflow';
import type { KilnActivities } from '../activities/index.js';
import { invalidInput } from '../domain/failures.js';
import { failureMessage } from './failure.js';

/** The one input object; `{}` watches the worker's default catalog. */
export interface UpstreamWatchInput {
  /** Catalog directory on the worker (default: the worker's KILN_CATALOG, else the repo's catalog/). */
  catalogDir?: string;
}

export interface UpstreamPackageReport {
  name: string;
  /** The upstream answered (false: the error says why). */
  checked: boolean;
  /** Where the releases were looked up. */
  source: string;
  current: string;
  latest?: string;
  /**
   * up-to-date: nothing newer upstream; updated: a branch and a packageUpdate run were made now;
   * update-pending: that version's branch and run already exist (an earlier poll made them);
   * error: the source was down, answered garbage, or the update could not be prepared.
   */
  action: 'up-to-date' | 'updated' | 'update-pending' | 'error';
  branch?: string;
  workflowId?: string;
  error?: string;
}

export interface UpstreamWatchResult {
  checkedAt: string;
  packages: UpstreamPackageReport[];
}

function validateInput(input: unknown): UpstreamWatchInput {
  if (input === null || input === undefined) return {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw invalidInput('upstreamWatch input must be a JSON object such as {} or {"catalogDir": "/path/to/catalog"}');
  }
  const problems = Object.entries(input).flatMap(([key, value]) =>
    key !== 'catalogDir'
      ? [`${key}: unknown field (fix: use catalogDir)`]
      : typeof value !== 'string'
        ? [`catalogDir: must be a string, got ${JSON.stringify(value)}`]
        : [],
  );
  if (problems.length) throw invalidInput(`invalid upstreamWatch input:\n${problems.join('\n')}`);
  return input as UpstreamWatchInput;
}

const { listWatchedPackages, proposeUpdate, startPackageUpdate } = proxyActivities<KilnActivities>({
  // proposeUpdate may download a release tarball to refresh its checksum.
  startToCloseTimeout: '15 minutes',
  retry: { initialInterval: '2 seconds', maximumAttempts: 3 },
});

// An upstream that is down or answers garbage is retried a few times, then reported.
const { checkUpstream } = proxyActivities<KilnActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
});

/**
 * Polls every package with a melange `update:` block. A newer upstream release becomes a commit
 * on a branch and a packageUpdate run; one failing source does not stop the others.
 */
export async function upstreamWatch(rawInput: UpstreamWatchInput = {}): Promise<UpstreamWatchResult> {
  const input = validateInput(rawInput);
  const result: UpstreamWatchResult = { checkedAt: new Date().toISOString(), packages: [] };
  for (const pkg of await listWatchedPackages({ catalogDir: input.catalogDir })) {
    const report: UpstreamPackageReport = {
      name: pkg.name,
      checked: false,
      source: pkg.source,
      current: pkg.version,
      action: 'error',
    };
    result.packages.push(report);
    try {
      const check = await checkUpstream({ catalogDir: input.catalogDir, name: pkg.name });
      Object.assign(report, { checked: true, current: check.current, latest: check.latest?.version });
      if (!check.newer || !check.latest) {
        report.action = 'up-to-date';
        continue;
      }
      const proposed = await proposeUpdate({
        catalogDir: input.catalogDir,
        name: pkg.name,
        version: check.latest.version,
        commit: check.latest.commit,
      });
      report.branch = proposed.branch;
      const run = await startPackageUpdate({
        name: pkg.name,
        version: check.latest.version,
        branch: proposed.branch,
        catalogDir: proposed.catalogDir,
      });
      Object.assign(report, { action: run.started ? 'updated' : 'update-pending', workflowId: run.workflowId });
    } catch (err) {
      report.action = 'error';
      report.error = failureMessage(err);
    }
  }
  return result;
}
