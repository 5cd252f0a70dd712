// Epoch bumps after an allowed ABI break: the packages whose published builds link a soname a
// library no longer provides must be rebuilt, and a published APK never changes, so they need a new
// `package.epoch`. kiln records it in git as upstream updates do (a commit on a branch of the
// catalog's repository, made in a worktree, never pushed), or says plainly that it cannot.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { parse, parseDocument } from 'yaml';
import type { KilnConfig } from '../config/config.js';
import { failure } from '../domain/failures.js';
import type { EpochBump } from '../domain/summary.js';
import { gitOk, refExists, repositoryRoot, showFile } from '../adapters/git.js';
import { readSnapshot } from '../io/catalog-snapshot.js';
import { markUsed } from '../io/state-use.js';

export interface EpochBumpInput {
  /** The run's catalog snapshot (its packages, their files and epochs). */
  snapshotDir: string;
  /** The catalog directory the snapshot was taken from (default: the worker's catalog). */
  catalogDir?: string;
  /** The catalog commit the snapshot was taken at: the branch starts there. */
  gitCommit?: string;
  /** The library whose allowed ABI break removed sonames. */
  library: { name: string; version: string; epoch: number; removed: string[] };
  /** Origins that depend on a removed soname (the ABI verdict's `rebuild`). */
  dependents: string[];
}

const epochOf = (text: string): number => {
  const doc = parse(text) as { package?: { epoch?: unknown } } | null;
  return Number(doc?.package?.epoch ?? 0);
};

/**
 * Commits `package.epoch + 1` for every catalog package among the dependents, on branch
 * `<updates.branchPrefix>rebuild-<library>-<version>-r<epoch>` started at the run's catalog commit
 * (or on the checked-out branch with `updates.onMainBranch`). A second call finds the branch and
 * commits nothing. Outside a git repository it fails (EpochNotBumped) naming each package, its
 * file and the epoch to set.
 */
export async function bumpEpochs(config: KilnConfig, input: EpochBumpInput): Promise<EpochBump> {
  const catalog = await readSnapshot(input.snapshotDir);
  const { library } = input;
  const because = `${library.name} ${library.version}-r${library.epoch} no longer provides ${library.removed.join(', ')}`;
  const specs = catalog.packages.filter((p) => input.dependents.includes(p.name));
  const notInCatalog = input.dependents.filter((d) => !specs.some((p) => p.name === d)).sort();
  const packages = specs.map((p) => ({ name: p.name, file: p.file, epoch: p.epoch, newEpoch: p.epoch + 1 }));
  if (!packages.length) return { because, packages, notInCatalog };

  const dir = resolve(input.catalogDir ?? config.catalogDir);
  const top = existsSync(dir) ? await repositoryRoot(dir) : '';
  if (!top)
    throw failure(
      'EpochNotBumped',
      `${packages.map((p) => p.name).join(', ')} must be rebuilt with a new epoch: ${because} (catalog.yaml abi.allowedBreaks), ` +
        `their published builds link it, and a published APK never changes. kiln records a new epoch as a git commit, ` +
        `but ${dir} is not in a git repository ` +
        `(fix: bump package.epoch: ${packages.map((p) => `${p.file} to ${p.newEpoch}`).join(', ')}; or git init and commit the catalog)`,
      { details: [{ packages, notInCatalog }] },
    );
  const sub = relative(top, dir);
  const { updates } = catalog.settings;
  const branch = updates.onMainBranch
    ? await gitOk(top, ['rev-parse', '--abbrev-ref', 'HEAD'])
    : `${updates.branchPrefix}rebuild-${library.name}-${library.version}-r${library.epoch}`;
  const work = updates.onMainBranch
    ? top
    : join(config.paths.worktrees, `${basename(top)}-${branch.replace(/[^A-Za-z0-9._-]/g, '-')}`);
  const result = async (): Promise<EpochBump> => {
    // The worktree people review the bumps in: marked used, the clean-up keeps it (io/state-use.ts).
    if (!updates.onMainBranch) await markUsed(work);
    return {
      because,
      packages,
      notInCatalog,
      branch,
      commit: await gitOk(work, ['rev-parse', 'HEAD']),
      catalogDir: join(work, sub),
    };
  };

  if (!updates.onMainBranch && (await refExists(top, `refs/heads/${branch}`))) {
    // A retry or a second run: the branch already carries the bumps.
    const onBranch = await Promise.all(packages.map((p) => showFile(top, branch, join(sub, p.file))));
    if (onBranch.every((text, i) => epochOf(text) >= packages[i]!.newEpoch)) {
      if (!existsSync(join(work, '.git'))) await gitOk(top, ['worktree', 'add', work, branch]);
      return result();
    }
  }
  if (!updates.onMainBranch && !existsSync(join(work, '.git'))) {
    await mkdir(config.paths.worktrees, { recursive: true });
    const start = input.gitCommit ?? 'HEAD';
    const exists = await refExists(top, `refs/heads/${branch}`);
    await gitOk(top, ['worktree', 'add', ...(exists ? [work, branch] : ['-b', branch, work, start])]);
  }
  let bumped = 0;
  for (const p of packages) {
    const file = join(work, sub, p.file);
    const doc = parseDocument(await readFile(file, 'utf8'));
    const current = Number(doc.getIn(['package', 'epoch']) ?? 0);
    // Already past the snapshot's epoch (an earlier attempt, or a person): that is the new epoch.
    if (current > p.epoch) {
      p.newEpoch = current;
      continue;
    }
    doc.setIn(['package', 'epoch'], p.newEpoch);
    await writeFile(file, doc.toString());
    await gitOk(work, ['add', join(sub, p.file)]);
    bumped++;
  }
  if (!bumped) return result();
  await gitOk(work, [
    'commit',
    '-m',
    `Rebuild ${packages.map((p) => p.name).join(', ')} for ${library.name} ${library.version}-r${library.epoch}\n\n` +
      `${because} (catalog.yaml abi.allowedBreaks); the published builds of these packages link it, and a\n` +
      `published APK never changes: bump package.epoch (${packages.map((p) => `${p.name} ${p.epoch} -> ${p.newEpoch}`).join(', ')}).\n\n` +
      `Committed by kiln's ABI guard.`,
  ]);
  return result();
}
