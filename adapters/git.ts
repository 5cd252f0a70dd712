// The git adapter: every git command kiln runs (on a catalog's repository, or asking an upstream
// for its tags) goes through here, on the tool runner. Commits are authored by kiln.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureTool, type CapturedRun } from './run-tool.js';
import { failure } from '../domain/failures.js';
import { parseLsRemote, type UpstreamTag } from '../domain/upstream.js';

const IDENTITY = ['-c', 'user.name=kiln', '-c', 'user.email=kiln@localhost'];
const REMOTE_TIMEOUT_MS = 60_000;

/** Runs git in `cwd`; the exit code is the caller's to read (`rev-parse --verify` answers with it). */
export function git(
  cwd: string | undefined,
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CapturedRun> {
  return captureTool({
    label: `git ${args[0] ?? ''}`.trim(),
    command: 'git',
    args: [...IDENTITY, ...args],
    cwd,
    ...options,
  });
}

/** Runs git in `cwd` and returns its trimmed output; a non-zero exit is GitFailed. */
export async function gitOk(cwd: string, args: string[]): Promise<string> {
  const r = await git(cwd, args);
  if (r.exitCode !== 0) throw failure('GitFailed', `git ${args.join(' ')} in ${cwd} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The git directory a linked worktree's repository keeps (its common directory), or undefined. */
export async function worktreeRepository(worktree: string): Promise<string | undefined> {
  const r = await git(worktree, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** Makes the repository in `gitDir` forget its worktrees whose directories are gone (a later `worktree add` of the same path works). */
export async function pruneWorktrees(gitDir: string): Promise<void> {
  await gitOk(gitDir, ['worktree', 'prune']);
}

/** The commit checked out in `dir`, or undefined when it is not in a git repository. */
export async function headCommit(dir: string): Promise<string | undefined> {
  const r = await git(undefined, ['-C', dir, 'rev-parse', 'HEAD']);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** The top directory of the repository `dir` is in, or '' when it is in none. */
export async function repositoryRoot(dir: string): Promise<string> {
  return (await git(dir, ['rev-parse', '--show-toplevel'])).stdout.trim();
}

/** Whether a ref exists in the repository at `cwd`. */
export async function refExists(cwd: string, ref: string): Promise<boolean> {
  return (await git(cwd, ['rev-parse', '--verify', '--quiet', ref])).exitCode === 0;
}

/** A file's text at a revision (`git show <rev>:<path>`), '' when it cannot be read. */
export async function showFile(cwd: string, rev: string, path: string): Promise<string> {
  return (await git(cwd, ['show', `${rev}:${path}`])).stdout;
}

/**
 * Tags of a remote repository (`git ls-remote --tags`, optionally only `refs`), never prompting
 * for credentials. An unreachable remote is UpstreamUnavailable (retried).
 */
export async function remoteTags(url: string, refs: string[] = []): Promise<UpstreamTag[]> {
  const r = await git(undefined, ['ls-remote', '--tags', url, ...refs], {
    timeoutMs: REMOTE_TIMEOUT_MS,
    env: { GIT_TERMINAL_PROMPT: '0' },
  });
  if (r.exitCode !== 0)
    throw failure('UpstreamUnavailable', `git ls-remote ${url} failed: ${r.stderr.trim().split('\n').pop()}`);
  return parseLsRemote(r.stdout);
}

/** What git says of a commit's signature, checked against an allowed-signers list. */
export interface CommitSignature {
  /**
   * good: an SSH signature by a key in the list (git's %G? "G"); unsigned: no signature;
   * unknown-signer: a valid signature by a key not in the list; not-ssh: a GPG or X.509 signature
   * (only SSH signatures are checked against the list); bad: it does not verify (or git could not check it).
   */
  status: 'good' | 'unsigned' | 'unknown-signer' | 'not-ssh' | 'bad';
  /** The allowed-signers principal (git's %GS), when good. */
  signer?: string;
  /** The signing key's fingerprint (git's %GF), e.g. `SHA256:...`. */
  key?: string;
  /** git's own words (its %GG output), for messages. */
  detail: string;
}

/**
 * Verifies `commit`'s signature with git itself, against `allowedSigners` (lines of an ssh
 * allowed-signers file) written to a file of its own for `gpg.ssh.allowedSignersFile`: the
 * worker's own git settings (signers file, ssh program, log.showSignature) do not count.
 */
export async function verifyCommit(repo: string, commit: string, allowedSigners: string[]): Promise<CommitSignature> {
  const object = await git(repo, ['cat-file', 'commit', commit]);
  if (object.exitCode !== 0)
    throw failure('GitFailed', `git cat-file commit ${commit} in ${repo} failed: ${object.stderr.trim()}`);
  const header = object.stdout.slice(0, object.stdout.indexOf('\n\n'));
  const sig = /^gpgsig(?:-sha256)? (.*)$/m.exec(header)?.[1];
  if (sig === undefined) return { status: 'unsigned', detail: 'no signature' };
  if (!sig.startsWith('-----BEGIN SSH SIGNATURE-----'))
    return { status: 'not-ssh', detail: `a ${sig.includes('PGP') ? 'GPG' : 'non-SSH'} signature` };
  const dir = await mkdtemp(join(tmpdir(), 'kiln-signers-'));
  try {
    const file = join(dir, 'allowed_signers');
    await writeFile(file, allowedSigners.map((l) => `${l}\n`).join(''), { mode: 0o600 });
    const r = await git(repo, [
      '-c',
      `gpg.ssh.allowedSignersFile=${file}`,
      '-c',
      'gpg.ssh.program=ssh-keygen',
      '-c',
      'log.showSignature=false',
      'log',
      '-1',
      '--format=%G?%x00%GS%x00%GF%x00%GG',
      commit,
      '--',
    ]);
    if (r.exitCode !== 0)
      throw failure('GitFailed', `git log ${commit} (signature) in ${repo} failed: ${r.stderr.trim()}`);
    const [code = '', signer = '', key = '', detail = ''] = r.stdout.split('\0');
    const words = detail.trim().replace(/\s+/g, ' ');
    if (code === 'G') return { status: 'good', signer, key, detail: words };
    if (code === 'U') return { status: 'unknown-signer', key, detail: words };
    if (code === 'N') return { status: 'unsigned', detail: words || 'no signature' };
    return { status: 'bad', key, detail: words || `git reports signature status ${code}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether `commit` is `ref` or one of its ancestors (false too when `ref` does not exist). */
export async function isAncestor(repo: string, commit: string, ref: string): Promise<boolean> {
  return (await git(repo, ['merge-base', '--is-ancestor', commit, ref])).exitCode === 0;
}

/** The branch checked out in `repo`, or undefined when HEAD is detached. */
export async function currentBranch(repo: string): Promise<string | undefined> {
  const r = await git(repo, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** Writes `treeish` (e.g. `<commit>:<dir>`) as an uncompressed tar to `file` (git archive). */
export async function archiveTree(repo: string, treeish: string, file: string): Promise<void> {
  await gitOk(repo, ['archive', '--format=tar', '-o', file, treeish]);
}

/** Whether `repo` is a shallow clone (its history cut off). */
export async function isShallow(repo: string): Promise<boolean> {
  return (await gitOk(repo, ['rev-parse', '--is-shallow-repository'])) === 'true';
}

/** The first parent of `commit`, or undefined for a root commit. */
export async function firstParent(repo: string, commit: string): Promise<string | undefined> {
  const r = await git(repo, ['rev-parse', '--verify', '--quiet', `${commit}^1^{commit}`]);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** Commits on `commit`'s first-parent history that changed `path` against their first parent, newest first. */
export async function commitsChanging(repo: string, commit: string, path: string): Promise<string[]> {
  const out = await gitOk(repo, ['log', '--first-parent', '--format=%H', commit, '--', path]);
  return out.split('\n').filter(Boolean);
}

/**
 * Files under `dir` that differ between `ref` and the working tree (committed, staged or not, and
 * untracked files git does not ignore), as paths relative to `dir`; renames count as both paths.
 * A ref that does not exist is InvalidInput.
 */
export async function changedSince(dir: string, ref: string): Promise<string[]> {
  if (!(await refExists(dir, `${ref}^{commit}`)))
    throw failure(
      'InvalidInput',
      `${ref} is not a commit in the repository of ${dir}: pass a branch, tag or commit that exists, e.g. --since origin/main`,
    );
  const diff = await gitOk(dir, ['diff', '--name-only', '--no-renames', '--relative', ref, '--', '.']);
  const untracked = await gitOk(dir, ['ls-files', '--others', '--exclude-standard', '--', '.']);
  return [...new Set([...diff.split('\n'), ...untracked.split('\n')].filter(Boolean))].sort();
}
