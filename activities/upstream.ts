// Upstream release watching: ask each watched package's upstream for its newest release, commit a
// bumped config on a new branch of the catalog's git repository, and start the rebuild.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { Context, getClient } from '@temporalio/activity';
import { ApplicationFailure, WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { execa } from 'execa';
import { parse, parseDocument } from 'yaml';
import { loadCatalog } from '../io/catalog-loader.js';
import type { Catalog } from '../domain/catalog.js';
import { compareApkVersions } from '../domain/apk-version.js';
import { bumpMelangeConfig, gitRepository, newestRelease, parseLsRemote, updateConfig, type UpstreamTag } from '../domain/upstream.js';
import { catalogEnv, kilnPaths } from '../config/config.js';
import { defaultCatalogDir } from './snapshot.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

export interface WatchedPackage {
  name: string;
  file: string;
  version: string;
  /** Where its releases are looked up, for the watcher's report. */
  source: string;
}

/** Where a watched package's releases come from, or undefined when its config names no source. */
function upstreamSource(doc: unknown, name: string, catalog: Catalog): { kind: 'git'; url: string } | { kind: 'github'; url: string; useTag: boolean } | undefined {
  const cfg = updateConfig(doc);
  if (!cfg) return undefined;
  if (cfg.backend === 'github') {
    if (!cfg.identifier) return undefined;
    return { kind: 'github', useTag: cfg.useTag, url: `${catalog.settings.updates.githubApi.replace(/\/$/, '')}/repos/${cfg.identifier}/${cfg.useTag ? 'tags' : 'releases'}` };
  }
  const url = gitRepository(doc, name, catalog.settings.updates.repositories);
  return url ? { kind: 'git', url } : undefined;
}

export async function listWatchedPackages(input: { catalogDir?: string }): Promise<WatchedPackage[]> {
  const dir = resolve(input.catalogDir ?? defaultCatalogDir());
  const catalog = await loadCatalog(dir, { env: catalogEnv() });
  const out: WatchedPackage[] = [];
  for (const spec of [...catalog.packages].sort((a, b) => a.name.localeCompare(b.name))) {
    const doc = parse(await readFile(join(dir, spec.file), 'utf8')) as unknown;
    if (!updateConfig(doc)) continue;
    const source = upstreamSource(doc, spec.name, catalog);
    out.push({ name: spec.name, file: spec.file, version: spec.version, source: source ? `${source.kind} ${source.url}` : '(none configured)' });
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

async function githubTags(url: string, useTag: boolean): Promise<UpstreamTag[]> {
  const page = `${url}?per_page=100`;
  const res = await fetch(page, { headers: { accept: 'application/vnd.github+json' }, signal: AbortSignal.timeout(60_000) }).catch((err: Error) => {
    throw ApplicationFailure.retryable(`${page} unreachable: ${err.message}`, 'UpstreamUnavailable');
  });
  if (!res.ok) throw ApplicationFailure.retryable(`${page} answered ${res.status}`, 'UpstreamUnavailable');
  const body = (await res.json().catch(() => undefined)) as unknown;
  const shapeOk = Array.isArray(body) && body.every((r) => typeof (r as Obj)[useTag ? 'name' : 'tag_name'] === 'string');
  if (!shapeOk) throw ApplicationFailure.retryable(`${page} did not answer a list of ${useTag ? 'tags' : 'releases'} (GitHub API shape)`, 'UpstreamGarbage');
  return (body as Obj[])
    .filter((r) => r.draft !== true)
    .map((r) => (useTag
      ? { tag: r.name as string, commit: (r.commit as { sha?: string } | undefined)?.sha }
      : { tag: r.tag_name as string, prerelease: r.prerelease === true }));
}

async function watchedSpec(dir: string, name: string): Promise<{ catalog: Catalog; file: string; version: string; doc: unknown }> {
  const catalog = await loadCatalog(dir, { env: catalogEnv() });
  const spec = catalog.packages.find((p) => p.name === name);
  if (!spec) throw ApplicationFailure.nonRetryable(`package ${name} is not in ${dir}`, 'CatalogInvalid');
  return { catalog, file: spec.file, version: spec.version, doc: parse(await readFile(join(dir, spec.file), 'utf8')) };
}

/** The newest upstream release of one watched package, compared with the catalog's version. */
export async function checkUpstream(input: { catalogDir?: string; name: string }): Promise<UpstreamCheck> {
  const dir = resolve(input.catalogDir ?? defaultCatalogDir());
  const { catalog, file, version, doc } = await watchedSpec(dir, input.name);
  const cfg = updateConfig(doc);
  if (!cfg) throw ApplicationFailure.nonRetryable(`${file}: no enabled update: block`, 'CatalogInvalid');
  const source = upstreamSource(doc, input.name, catalog);
  if (!source) {
    throw ApplicationFailure.nonRetryable(cfg.backend === 'github'
      ? `${file}: update.github.identifier: missing (fix: set it to org/repo)`
      : `${file}: update.git: no upstream repository (fix: add a git-checkout step with 'repository', or catalog.yaml updates.repositories.${input.name})`,
    'CatalogInvalid');
  }
  const tags = source.kind === 'github' ? await githubTags(source.url, source.useTag) : await gitTags(source.url);
  const latest = newestRelease(tags, cfg);
  return {
    name: input.name,
    current: version,
    ...(latest ? { latest: { version: latest.version, tag: latest.tag, ...(latest.commit ? { commit: latest.commit } : {}) } } : {}),
    newer: Boolean(latest && compareApkVersions(latest.version, version) > 0),
  };
}

/** melange's `${{...}}` values a pipeline's `with:` may use at the new version. */
function melangeSubstitutions(doc: unknown, version: string): Record<string, string> {
  const d = obj(doc);
  const subs: Record<string, string> = {
    'package.name': str(obj(d.package).name),
    'package.version': version,
    'package.epoch': '0',
    'package.full-version': `${version}-r0`,
  };
  for (const [k, v] of Object.entries(obj(d.vars))) subs[`vars.${k}`] = substitute(str(v), subs);
  for (const t of Array.isArray(d['var-transforms']) ? (d['var-transforms'] as unknown[]).map(obj) : []) {
    // Go's regexp replacement syntax (${1}) in JavaScript's ($1); Go replaces every match.
    const replace = str(t.replace).replace(/\$\{(\d+)\}/g, '$$$1');
    subs[`vars.${str(t.to)}`] = substitute(str(t.from), subs).replace(new RegExp(str(t.match), 'g'), replace);
  }
  return subs;
}

function substitute(text: string, subs: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (whole, key: string) => subs[key] ?? whole);
}

async function downloadDigest(uri: string, algorithm: 'sha256' | 'sha512', where: string): Promise<string> {
  const unresolved = /\$\{\{[^}]*\}\}/.exec(uri);
  if (unresolved) throw ApplicationFailure.nonRetryable(`${where}: cannot refresh expected-${algorithm}: ${uri} uses ${unresolved[0]}, which kiln cannot resolve (fix: update the checksum by hand)`, 'TarballUnavailable');
  const res = await fetch(uri, { signal: AbortSignal.timeout(10 * 60_000) }).catch((err: Error) => {
    throw ApplicationFailure.retryable(`${where}: cannot refresh expected-${algorithm}: ${uri} unreachable (${err.message}); no branch was made, the next poll tries again`, 'TarballUnavailable');
  });
  if (!res.ok || !res.body) {
    // 4xx: usually the release is tagged before its tarball is uploaded; a retry now will not help.
    const message = `${where}: cannot refresh expected-${algorithm}: ${uri} answered HTTP ${res.status}; no branch was made, the next poll tries again`;
    throw res.status >= 500 ? ApplicationFailure.retryable(message, 'TarballUnavailable') : ApplicationFailure.nonRetryable(message, 'TarballUnavailable');
  }
  const hash = createHash(algorithm);
  for await (const chunk of res.body) hash.update(chunk as Uint8Array);
  return hash.digest('hex');
}

async function remoteTagCommit(repository: string, tag: string, where: string): Promise<string> {
  const tags = parseLsRemote(String((await execa('git', ['ls-remote', '--tags', repository, `refs/tags/${tag}`, `refs/tags/${tag}^{}`], {
    reject: false, timeout: 60_000, env: { GIT_TERMINAL_PROMPT: '0' },
  })).stdout));
  const commit = tags.find((t) => t.tag === tag)?.commit;
  if (!commit) throw ApplicationFailure.retryable(`${where}: cannot refresh expected-commit: tag ${tag} not found in ${repository}`, 'UpstreamUnavailable');
  return commit;
}

/**
 * The pins a pipeline holds, at the new version: `expected-commit` of git-checkout steps (the
 * commit the release tag points at) and `expected-sha256`/`-sha512` of fetch steps (by
 * downloading the tarball). Only pins the config already has are refreshed.
 */
async function refreshedPins(doc: unknown, version: string, commit: string | undefined, file: string): Promise<{ path: (string | number)[]; value: string }[]> {
  const subs = melangeSubstitutions(doc, version);
  const steps = Array.isArray(obj(doc).pipeline) ? (obj(doc).pipeline as unknown[]).map(obj) : [];
  const pins: { path: (string | number)[]; value: string }[] = [];
  for (const [i, step] of steps.entries()) {
    const w = obj(step.with);
    const where = `${file} pipeline[${i}] (${str(step.uses)})`;
    if (step.uses === 'git-checkout' && 'expected-commit' in w) {
      const tag = substitute(str(w.tag), subs);
      const value = commit ?? (tag && str(w.repository) ? await remoteTagCommit(substitute(str(w.repository), subs), tag, where) : undefined);
      if (!value) throw ApplicationFailure.nonRetryable(`${where}: cannot refresh expected-commit: the step names no tag and the upstream gave no commit (fix: update it by hand)`, 'UpstreamUnavailable');
      pins.push({ path: ['pipeline', i, 'with', 'expected-commit'], value });
    }
    if (step.uses === 'fetch') {
      for (const algorithm of ['sha256', 'sha512'] as const) {
        if (!(`expected-${algorithm}` in w)) continue;
        pins.push({ path: ['pipeline', i, 'with', `expected-${algorithm}`], value: await downloadDigest(substitute(str(w.uri), subs), algorithm, where) });
      }
    }
  }
  return pins;
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
 * repository, so the main checkout is never touched; with `onMainBranch` it commits on the
 * checked-out branch instead. Never force-pushes; kiln pushes nothing (the branch is for review
 * and merge). Checksums are computed before any branch exists, so an unreachable tarball leaves
 * no half-made branch behind.
 */
export async function proposeUpdate(input: { catalogDir?: string; name: string; version: string; commit?: string }): Promise<ProposedUpdate> {
  const dir = resolve(input.catalogDir ?? defaultCatalogDir());
  const { catalog, file: specFile, doc } = await watchedSpec(dir, input.name);
  const top = String((await git(dir, ['rev-parse', '--show-toplevel'])).stdout).trim();
  if (!top) throw ApplicationFailure.nonRetryable(`${dir} is not in a git repository: kiln commits updates to the catalog's repository (fix: git init and commit the catalog)`, 'GitFailed');
  const sub = relative(top, dir);
  const { updates } = catalog.settings;
  const branch = updates.onMainBranch ? await gitOk(top, ['rev-parse', '--abbrev-ref', 'HEAD']) : `${updates.branchPrefix}${input.name}-${input.version}`;
  const work = updates.onMainBranch
    ? top
    : join(kilnPaths().state, 'worktrees', `${basename(top)}-${branch.replace(/[^A-Za-z0-9._-]/g, '-')}`);
  const result = async (created: boolean): Promise<ProposedUpdate> =>
    ({ branch, catalogDir: join(work, sub), commit: await gitOk(work, ['rev-parse', 'HEAD']), created });

  const branchExists = (await git(top, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`])).exitCode === 0;
  if (!updates.onMainBranch && branchExists) {
    // A second poll: the branch already carries this version; nothing to fetch or commit.
    const onBranch = parse(String((await git(top, ['show', `${branch}:${join(sub, specFile)}`])).stdout)) as unknown;
    if (str(obj(obj(onBranch).package).version) === input.version) {
      if (!existsSync(join(work, '.git'))) await gitOk(top, ['worktree', 'add', work, branch]);
      return result(false);
    }
  }
  const pins = await refreshedPins(doc, input.version, input.commit, specFile);

  if (!updates.onMainBranch && !existsSync(join(work, '.git'))) {
    await mkdir(join(kilnPaths().state, 'worktrees'), { recursive: true });
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
  await gitOk(work, ['commit', '-m', `${input.name}: update to ${input.version}\n\nDetected upstream by kiln's upstreamWatch.`]);
  return result(true);
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
      // Even a finished or failed update of this version is not started again: one per version.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    return { workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
    throw err;
  }
}
