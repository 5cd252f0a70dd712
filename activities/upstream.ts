// Upstream release watching: ask each watched package's upstream for its newest release, commit a
// bumped config on a new branch of the catalog's git repository, and start the rebuild.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { Context, getClient } from '@temporalio/activity';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { parse, parseDocument } from 'yaml';
import type { KilnConfig } from '../config/config.js';
import type { Catalog } from '../domain/catalog.js';
import { compareApkVersions } from '../domain/apk-version.js';
import { catalogInvalid, failure } from '../domain/failures.js';
import {
  bumpMelangeConfig,
  melangeSubstitutions,
  newestRelease,
  scalar,
  substitute,
  updateConfig,
  upstreamSource,
} from '../domain/upstream.js';
import { gitOk, refExists, remoteTags, repositoryRoot, showFile } from '../adapters/git.js';
import { loadCatalog } from '../io/catalog-loader.js';
import { markUsed } from '../io/state-use.js';
import { hostOf } from '../domain/host-limits.js';
import { pace } from '../io/host-pacer.js';
import { downloadDigest, githubTags } from '../io/upstream.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

export interface WatchedPackage {
  name: string;
  file: string;
  version: string;
  /** Where its releases are looked up, for the watcher's report. */
  source: string;
}

export async function listWatchedPackages(
  config: KilnConfig,
  input: { catalogDir?: string },
): Promise<WatchedPackage[]> {
  const dir = resolve(input.catalogDir ?? config.catalogDir);
  const catalog = await loadCatalog(dir, { env: config.catalogEnv });
  const out: WatchedPackage[] = [];
  for (const spec of [...catalog.packages].sort((a, b) => a.name.localeCompare(b.name))) {
    const doc = parse(await readFile(join(dir, spec.file), 'utf8')) as unknown;
    if (!updateConfig(doc)) continue;
    const source = upstreamSource(doc, spec.name, catalog.settings.updates);
    out.push({
      name: spec.name,
      file: spec.file,
      version: spec.version,
      source: source ? `${source.kind} ${source.url}` : '(none configured)',
    });
  }
  return out;
}

export interface UpstreamCheck {
  name: string;
  current: string;
  latest?: { version: string; tag: string; commit?: string };
  newer: boolean;
}

async function watchedSpec(
  config: KilnConfig,
  dir: string,
  name: string,
): Promise<{ catalog: Catalog; file: string; version: string; doc: unknown }> {
  const catalog = await loadCatalog(dir, { env: config.catalogEnv });
  const spec = catalog.packages.find((p) => p.name === name);
  if (!spec) throw catalogInvalid(`package ${name} is not in ${dir}`);
  return { catalog, file: spec.file, version: spec.version, doc: parse(await readFile(join(dir, spec.file), 'utf8')) };
}

/** The newest upstream release of one watched package, compared with the catalog's version. */
export async function checkUpstream(
  config: KilnConfig,
  input: { catalogDir?: string; name: string },
): Promise<UpstreamCheck> {
  const dir = resolve(input.catalogDir ?? config.catalogDir);
  const { catalog, file, version, doc } = await watchedSpec(config, dir, input.name);
  const cfg = updateConfig(doc);
  if (!cfg) throw catalogInvalid(`${file}: no enabled update: block`);
  const source = upstreamSource(doc, input.name, catalog.settings.updates);
  if (!source) {
    throw catalogInvalid(
      cfg.backend === 'github'
        ? `${file}: update.github.identifier: missing (fix: set it to org/repo)`
        : `${file}: update.git: no upstream repository (fix: add a git-checkout step with 'repository', or catalog.yaml updates.repositories.${input.name})`,
    );
  }
  const tags =
    source.kind === 'github' ? await githubTags(source.url, source.useTag) : await pacedRemoteTags(source.url);
  const latest = newestRelease(tags, cfg);
  return {
    name: input.name,
    current: version,
    ...(latest
      ? { latest: { version: latest.version, tag: latest.tag, ...(latest.commit ? { commit: latest.commit } : {}) } }
      : {}),
    newer: Boolean(latest && compareApkVersions(latest.version, version) > 0),
  };
}

/** `git ls-remote` once the upstream's shared rate limit allows (a local path has no host: never waits). */
async function pacedRemoteTags(url: string, refs?: string[]): ReturnType<typeof remoteTags> {
  await pace(hostOf(url));
  return remoteTags(url, refs);
}

async function remoteTagCommit(repository: string, tag: string, where: string): Promise<string> {
  const tags = await pacedRemoteTags(repository, [`refs/tags/${tag}`, `refs/tags/${tag}^{}`]);
  const commit = tags.find((t) => t.tag === tag)?.commit;
  if (!commit)
    throw failure(
      'UpstreamUnavailable',
      `${where}: cannot refresh expected-commit: tag ${tag} not found in ${repository}`,
    );
  return commit;
}

/**
 * The pins a pipeline holds, at the new version: `expected-commit` of git-checkout steps (the
 * commit the release tag points at) and `expected-sha256`/`-sha512` of fetch steps (by
 * downloading the tarball). Only pins the config already has are refreshed.
 */
async function refreshedPins(
  doc: unknown,
  version: string,
  commit: string | undefined,
  file: string,
): Promise<{ path: (string | number)[]; value: string }[]> {
  const subs = melangeSubstitutions(doc, version);
  const steps = Array.isArray(obj(doc).pipeline) ? (obj(doc).pipeline as unknown[]).map(obj) : [];
  const pins: { path: (string | number)[]; value: string }[] = [];
  for (const [i, step] of steps.entries()) {
    const w = obj(step.with);
    const where = `${file} pipeline[${i}] (${scalar(step.uses)})`;
    if (step.uses === 'git-checkout' && 'expected-commit' in w) {
      const tag = substitute(scalar(w.tag), subs);
      const value =
        commit ??
        (tag && scalar(w.repository)
          ? await remoteTagCommit(substitute(scalar(w.repository), subs), tag, where)
          : undefined);
      if (!value) {
        throw failure(
          'UpstreamUnavailable',
          `${where}: cannot refresh expected-commit: the step names no tag and the upstream gave no commit (fix: update it by hand)`,
          { retryable: false },
        );
      }
      pins.push({ path: ['pipeline', i, 'with', 'expected-commit'], value });
    }
    if (step.uses === 'fetch') {
      for (const algorithm of ['sha256', 'sha512'] as const) {
        if (!(`expected-${algorithm}` in w)) continue;
        pins.push({
          path: ['pipeline', i, 'with', `expected-${algorithm}`],
          value: await downloadDigest(substitute(scalar(w.uri), subs), algorithm, where),
        });
      }
    }
  }
  return pins;
}

export interface ProposedUpdate {
  branch: string;
  /** The catalog directory inside the branch's worktree: what the rebuild snapshots. */
  catalogDir: string;
  commit: string;
  /** False when the branch already carried this update (a second poll). */
  created: boolean;
}

/**
 * Commits the bumped config on `<branchPrefix><name>-<version>` in a worktree of the catalog's
 * repository, so the main checkout is never touched; with `onMainBranch` it commits on the
 * checked-out branch instead. Never force-pushes; kiln pushes nothing (the branch is for review
 * and merge). Checksums are computed before any branch exists, so an unreachable tarball leaves
 * no half-made branch behind.
 */
export async function proposeUpdate(
  config: KilnConfig,
  input: { catalogDir?: string; name: string; version: string; commit?: string },
): Promise<ProposedUpdate> {
  const dir = resolve(input.catalogDir ?? config.catalogDir);
  const { catalog, file: specFile, doc } = await watchedSpec(config, dir, input.name);
  const top = await repositoryRoot(dir);
  if (!top)
    throw failure(
      'GitFailed',
      `${dir} is not in a git repository: kiln commits updates to the catalog's repository (fix: git init and commit the catalog)`,
    );
  const sub = relative(top, dir);
  const { updates } = catalog.settings;
  const worktrees = config.paths.worktrees;
  const branch = updates.onMainBranch
    ? await gitOk(top, ['rev-parse', '--abbrev-ref', 'HEAD'])
    : `${updates.branchPrefix}${input.name}-${input.version}`;
  const work = updates.onMainBranch
    ? top
    : join(worktrees, `${basename(top)}-${branch.replace(/[^A-Za-z0-9._-]/g, '-')}`);
  const result = async (created: boolean): Promise<ProposedUpdate> => {
    // The worktree the update's run builds from: marked used, the clean-up keeps it (io/state-use.ts).
    if (!updates.onMainBranch) await markUsed(work);
    return { branch, catalogDir: join(work, sub), commit: await gitOk(work, ['rev-parse', 'HEAD']), created };
  };

  const branchExists = await refExists(top, `refs/heads/${branch}`);
  if (!updates.onMainBranch && branchExists) {
    // A second poll: the branch already carries this version; nothing to fetch or commit.
    const onBranch = parse(await showFile(top, branch, join(sub, specFile))) as unknown;
    if (scalar(obj(obj(onBranch).package).version) === input.version) {
      if (!existsSync(join(work, '.git'))) await gitOk(top, ['worktree', 'add', work, branch]);
      return result(false);
    }
  }
  const pins = await refreshedPins(doc, input.version, input.commit, specFile);

  if (!updates.onMainBranch && !existsSync(join(work, '.git'))) {
    await mkdir(worktrees, { recursive: true });
    await gitOk(top, ['worktree', 'add', ...(branchExists ? [work, branch] : ['-b', branch, work, 'HEAD'])]);
  }
  const file = join(work, sub, specFile);
  const before = await readFile(file, 'utf8');
  const bumped = parseDocument(bumpMelangeConfig(before, { version: input.version }));
  for (const pin of pins) bumped.setIn(pin.path, pin.value);
  const after = bumped.toString();
  if (before === after) return result(false);
  await writeFile(file, after);
  await gitOk(work, ['add', join(sub, specFile)]);
  await gitOk(work, [
    'commit',
    '-m',
    `${input.name}: update to ${input.version}\n\nDetected upstream by kiln's upstreamWatch.`,
  ]);
  return result(true);
}

/** Starts packageUpdate once per package and upstream version: the id is derived from both. */
export async function startPackageUpdate(
  _config: KilnConfig,
  input: { name: string; version: string; branch: string; catalogDir: string },
): Promise<{ workflowId: string; started: boolean }> {
  const workflowId = `package-update/${input.name}/${input.version}`;
  try {
    await getClient().workflow.start('packageUpdate', {
      workflowId,
      // The watcher's own task queue: the workers that watch also build.
      taskQueue: Context.current().info.taskQueue,
      args: [{ package: input.name, version: input.version, branch: input.branch, catalogDir: input.catalogDir }],
      // Even a finished or failed update of this version is not started again: one per version.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    return { workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
    throw err;
  }
}
