import { executeChild, workflowInfo } from '@temporalio/workflow';
import type { RebuildSummary } from '../domain/summary.js';
import { catalogRebuild } from './catalog-rebuild.js';

export interface PackageUpdateInput {
  package: string;
  version: string;
  /** Branch that carries the bumped config. */
  branch: string;
  /** The catalog inside that branch's worktree. */
  catalogDir: string;
}

/**
 * Builds an upstream update: the package, its reverse build dependencies, and every image that
 * includes any of them (catalogRebuild's `packages` selection), from the update's branch.
 */
export async function packageUpdate(input: PackageUpdateInput): Promise<RebuildSummary> {
  return executeChild(catalogRebuild, {
    workflowId: `${workflowInfo().workflowId}/rebuild`,
    args: [{ catalogDir: input.catalogDir, packages: [input.package] }],
  });
}
