// Workflows: deterministic orchestration (no I/O, no Node built-ins; activities by type only).
// packageUpdate: rebuild an upstream update from its branch (a catalogRebuild child).
import { executeChild, workflowInfo } from '@temporalio/workflow';
import { invalidInput } from '../domain/failures.js';
import type { CatalogRebuildResult } from '../domain/run-summary.js';
import { catalogRebuild } from './catalog-rebuild.js';

/** Started by upstreamWatch with id `package-update/<package>/<version>`. */
export interface PackageUpdateInput {
  package: string;
  version: string;
  /** Branch that carries the bumped config. */
  branch: string;
  /** The catalog inside that branch's worktree. */
  catalogDir: string;
}

const FIELDS: (keyof PackageUpdateInput)[] = ['package', 'version', 'branch', 'catalogDir'];

function validateInput(input: unknown): PackageUpdateInput {
  const given =
    input && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : undefined;
  const problems = given
    ? [
        ...Object.keys(given)
          .filter((k) => !FIELDS.includes(k as keyof PackageUpdateInput))
          .map((k) => `${k}: unknown field (fix: use ${FIELDS.join(', ')})`),
        ...FIELDS.filter((k) => typeof given[k] !== 'string' || !given[k]).map(
          (k) => `${k}: required, a non-empty string`,
        ),
      ]
    : [`must be a JSON object with ${FIELDS.join(', ')} (upstreamWatch starts it)`];
  if (problems.length) throw invalidInput(`invalid packageUpdate input:\n${problems.join('\n')}`);
  return given as unknown as PackageUpdateInput;
}

/**
 * Builds an upstream update: the package, its reverse build dependencies, and every image that
 * includes any of them (catalogRebuild's `packages` selection), from the update's branch. The
 * branch's worktree is not the configured catalog, so the snapshot makes it a staging run: it
 * publishes into a staging package repository and registry namespace named after the branch, and
 * production changes only when the branch is merged and the main catalog is rebuilt.
 */
export async function packageUpdate(rawInput: PackageUpdateInput): Promise<CatalogRebuildResult> {
  const input = validateInput(rawInput);
  return executeChild(catalogRebuild, {
    workflowId: `${workflowInfo().workflowId}/rebuild`,
    args: [{ catalogDir: input.catalogDir, packages: [input.package] }],
  });
}
