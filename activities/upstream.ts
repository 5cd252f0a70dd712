// Upstream release watching: ask each watched package's upstream for its newest release, commit a
// bumped config on a new branch of the catalog's git repository, and start the rebuild.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { Context, getClient } from '@temporalio/activity';
import { ApplicationFailure, WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { execa } from 'execa';
import { parse } from 'yaml';
import { loadCatalog } from '../domain/catalog-loader.js';
import { compareApkVersions } from '../domain/apk-version.js';
import { bumpMelangeConfig, gitRepository, newestRelease, parseLsRemote, updateConfig, type UpstreamTag } from '../domain/upstream.js';
import { catalogEnv, kilnPaths } from './env.js';
import { defaultCatalogDir } from './snapshot.js';

export interface WatchedPackage {
  name: string;
  file: string;
  version: string;
}

export async function listWatchedPackages(input: { catalogDir?: string }): Promise<WatchedPackage[]> {
  const dir = resolve(input.catalogDir ?? defaultCatalogDir());
  const out: WatchedPackage[] = [];
  const files = existsSync(join(dir, 'packages')) ? (await readdir(join(dir, 'packages'))).filter((f) => f.endsWith('.yaml')).sort() : [];
  for (const f of files) {
    const doc = parse(await readFile(join(dir, 'packages', f), 'utf8')) as { package?: { name?: string; version?: unknown } };
    if (updateConfig(doc) && doc.package?.name) out.push({ name: doc.package.name, file: `packages/${f}`, version: String(doc.package.version) });
  }
  return out;
}

export interface UpstreamCheck {
  name: string;
  current: string;
  latest?: { version: string; tag: string; commit?: string };
  newer: boolean;
}

async function gitTags(url: string): Promise<UpstreamTag[]> {
  const r = await execa('git', ['ls-remote', '--tags', url], { reject: false, timeout: 60_000, env: { GIT_TERMINAL_PROMPT: '0' } });
  if (r.exitCode !== 0) throw ApplicationFailure.retryable(`git ls-remote ${url} failed: ${String(r.stderr).trim().split('\n').pop()}`, 'UpstreamUnavailable');
  return parseLsRemote(String(r.stdout));
}

async function githubTags(api: string, identifier: string, useTag: boolean): Promise<UpstreamTag[]> {
  const url = `${api.replace(/\/$/, '')}/repos/${identifier}/${useTag ? 'tags' : 'releases'}?per_page=100`;
  const res = await fetch(url, { headers: { accept: 'application/vnd.github+json' } }).catch((err: Error) => {
    throw ApplicationFailure.retryable(`${url} unreachable: ${err.message}`, 'UpstreamUnavailable');
  });
  if (!res.ok) throw ApplicationFailure.retryable(`${url} answered ${res.status}`, 'UpstreamUnavailable');
  const body = (await res.json().catch(() => undefined)) as unknown;
  const shapeOk = Array.isArray(body) && body.every((r) => typeof (r as Record<string, unknown>)[useTag ? 'name' : 'tag_name'] === 'string');
  if (!shapeOk) throw ApplicationFailure.retryable(`${url} did not answer a list of ${useTag ? 'tags' : 'releases'} (GitHub API shape)`, 'UpstreamGarbage');
  return (body as Record<string, unknown>[])
    .filter((r) => r.draft !== true)
    .map((r) => (useTag
      ? { tag: r.name as string, commit: (r.commit as { sha?: string } | undefined)?.sha }
      : { tag: r.tag_name as string, prerelease: r.prerelease === true }));
}

/** The newest upstream release of one watched package, compared with the catalog's version. */
export async function checkUpstream(input: { catalogDir?: string; name: string }): Promise<UpstreamCheck> {
  const dir = resolve(input.catalogDir ?? defaultCatalogDir());
  const catalog = await loadCatalog(dir, { env: catalogEnv() });
  const spec = catalog.packages.find((p) => p.name === input.name);
  if (!spec) throw ApplicationFailure.nonRetryable(`package ${input.name} is not in ${dir}`, 'CatalogInvalid');
  const doc = parse(await readFile(join(dir, spec.file), 'utf8'));
  const cfg = updateConfig(doc)!;
  let tags: UpstreamTag[];
  if (cfg.backend === 'github') {
    if (!cfg.identifier) throw ApplicationFailure.nonRetryable(`${spec.file}: update.github.identifier: missing (fix: set it to org/repo)`, 'CatalogInvalid');
    tags = await githubTags(catalog.settings.updates.githubApi, cfg.identifier, cfg.useTag);
  } else {
    const url = gitRepository(doc, spec.name, catalog.settings.updates.repositories);
    if (!url) {
      throw ApplicationFailure.nonRetryable(
        `${spec.file}: update.git: no upstream repository (fix: add a git-checkout step with 'repository', or catalog.yaml updates.repositories.${spec.name})`,
        'CatalogInvalid',
      );
    }
    tags = await gitTags(url);
  }
  const latest = newestRelease(tags, cfg);
  return {
    name: spec.name,
    current: spec.version,
    ...(latest ? { latest: { version: latest.version, tag: latest.tag, ...(latest.commit ? { commit: latest.commit } : {}) } } : {}),
    newer: Boolean(latest && compareApkVersions(latest.version, spec.version) > 0),
  };
}

const git = (cwd: string, args: string[]) =>
  execa('git', ['-c', 'user.name=kiln', '-c', 'user.email=kiln@localhost', ...args], { cwd, reject: false });

async function gitOk(cwd: string, args: string[]): Promise<string> {
  const r = await git(cwd, args);
  if (r.exitCode !== 0) throw ApplicationFailure.nonRetryable(`git ${args.join(' ')} in ${cwd} failed: ${String(r.stderr).trim()}`, 'GitFailed');
  return String(r.stdout).trim();
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
 * repository, so the main checkout is never touched; with `onMainBranch` it commits there instead.
 * Never force-pushes; kiln pushes nothing (the branch is for review and merge).
 */
export async function proposeUpdate(input: { catalogDir?: string; name: string; version: string; commit?: string }): Promise<ProposedUpdate> {
  const dir = resolve(input.catalogDir ?? defaultCatalogDir());
  const catalog = await loadCatalog(dir, { env: catalogEnv() });
  const spec = catalog.packages.find((p) => p.name === input.name)!;
  const top = (await git(dir, ['rev-parse', '--show-toplevel'])).stdout.trim();
  if (!top) throw ApplicationFailure.nonRetryable(`${dir} is not in a git repository: kiln commits updates to the catalog's repository (fix: git init and commit the catalog)`, 'GitFailed');
  const sub = relative(top, dir);
  const { updates } = catalog.settings;
  let work = top;
  let branch = (await gitOk(top, ['rev-parse', '--abbrev-ref', 'HEAD']));
  if (!updates.onMainBranch) {
    branch = `${updates.branchPrefix}${input.name}-${input.version}`;
    work = join(kilnPaths().state, 'worktrees', `${basename(top)}-${branch.replace(/[^A-Za-z0-9._-]/g, '-')}`);
    if (!existsSync(join(work, '.git'))) {
      await mkdir(join(kilnPaths().state, 'worktrees'), { recursive: true });
      const exists = (await git(top, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`])).exitCode === 0;
      await gitOk(top, ['worktree', 'add', ...(exists ? [work, branch] : ['-b', branch, work, 'HEAD'])]);
    }
  }
  const file = join(work, sub, spec.file);
  const before = await readFile(file, 'utf8');
  const after = bumpMelangeConfig(before, { version: input.version, commit: input.commit });
  if (before === after) {
    return { branch, catalogDir: join(work, sub), commit: await gitOk(work, ['rev-parse', 'HEAD']), created: false };
  }
  await writeFile(file, after);
  await gitOk(work, ['add', join(sub, spec.file)]);
  await gitOk(work, ['commit', '-m', `${input.name}: update to ${input.version}\n\nDetected upstream by kiln's upstreamWatch.`]);
  return { branch, catalogDir: join(work, sub), commit: await gitOk(work, ['rev-parse', 'HEAD']), created: true };
}

/** Starts packageUpdate once per package and upstream version: the id is derived from both. */
export async function startPackageUpdate(input: { name: string; version: string; branch: string; catalogDir: string }): Promise<{ workflowId: string; started: boolean }> {
  const workflowId = `package-update/${input.name}/${input.version}`;
  try {
    await getClient().workflow.start('packageUpdate', {
      workflowId,
      // The watcher's own task queue: the workers that watch also build.
      taskQueue: Context.current().info.taskQueue,
      args: [{ package: input.name, version: input.version, branch: input.branch, catalogDir: input.catalogDir }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    return { workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
    throw err;
  }
}
