// The git adapter: every git command kiln runs (on a catalog's repository, or asking an upstream
// for its tags) goes through here, on the tool runner. Commits are authored by kiln.
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
