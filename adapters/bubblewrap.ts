// The bubblewrap adapter: image tests run here, one command at a time in an unpacked root
// filesystem, with no network, the image's environment, user and working directory.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { asyncLocalStorage } from '@temporalio/activity';
import { execa } from 'execa';
import type { KilnConfig } from '../config/config.js';
import { failure } from '../domain/failures.js';

/** What the sandbox needs from the configuration: the bwrap binary, and the host PATH it runs with. */
export interface SandboxConfig {
  bwrap: string;
  searchPath: string;
}

export const sandboxConfig = (config: KilnConfig): SandboxConfig => ({
  bwrap: config.imageTest.bwrap,
  searchPath: config.tools.searchPath,
});

/** A worker without bubblewrap cannot test images: SandboxUnavailable, never retried. */
export function checkSandbox(sandbox: SandboxConfig): void {
  if (!existsSync(sandbox.bwrap)) {
    throw failure(
      'SandboxUnavailable',
      `bubblewrap is not installed at ${sandbox.bwrap} (fix: apt-get install bubblewrap on the worker, or set KILN_BWRAP)`,
    );
  }
}

export interface SandboxRun {
  root: string;
  /** The test's name, for heartbeats, messages and the log. */
  name: string;
  command: string[];
  env: Map<string, string>;
  uid: number;
  gid: number;
  workdir: string;
  timeoutMs: number;
  /** Appended to: the command, its output and how it ended. */
  logFile: string;
}

export interface SandboxResult {
  /** null when the command was killed (timeout or signal). */
  exitCode: number | null;
  signal?: string;
  timedOut: boolean;
  /** Combined stdout and stderr. */
  output: string;
}

/** bwrap's own setup errors (not the command's): a sandbox problem on the worker, not the image's. */
const BWRAP_SETUP_ERROR = /^bwrap: (?!execvp|Can't chdir)(.*)$/m;

/**
 * One command in the image's root filesystem. Tests run in declaration order on the same writable
 * root, as `docker exec` calls in one container would; only /tmp is fresh for each.
 */
export async function runInSandbox(sandbox: SandboxConfig, r: SandboxRun): Promise<SandboxResult> {
  const args = [
    '--unshare-all', // user, pid, net (loopback only), ipc, uts, cgroup
    '--die-with-parent',
    '--new-session',
    '--bind',
    r.root,
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--perms',
    '1777',
    '--tmpfs',
    '/tmp',
    '--clearenv',
    ...[...r.env].flatMap(([k, v]) => ['--setenv', k, v]),
    '--uid',
    String(r.uid),
    '--gid',
    String(r.gid),
    '--chdir',
    r.workdir,
    '--',
    ...r.command,
  ];
  const ctx = asyncLocalStorage.getStore();
  const started = Date.now();
  const beat = ctx
    ? setInterval(() => ctx.heartbeat({ test: r.name, seconds: Math.round((Date.now() - started) / 1000) }), 5_000)
    : undefined;
  const result = await execa(sandbox.bwrap, args, {
    all: true,
    reject: false,
    stdin: 'ignore',
    timeout: r.timeoutMs,
    cancelSignal: ctx?.cancellationSignal,
    forceKillAfterDelay: 2_000,
    maxBuffer: 16 * 1024 * 1024,
    env: { PATH: sandbox.searchPath },
    extendEnv: false,
  }).finally(() => beat && clearInterval(beat));
  const output = String(result.all ?? '');
  await writeFile(
    r.logFile,
    `$ [${r.name}] ${r.command.join(' ')}\n${output}\n[exit ${result.exitCode ?? result.signal}]\n\n`,
    { flag: 'a' },
  );
  if (result.isCanceled) throw failure('Cancelled', `image test ${r.name} was cancelled`);
  const setup = result.exitCode === 1 && !result.timedOut ? BWRAP_SETUP_ERROR.exec(output) : null;
  if (setup) {
    // Retried: another worker (or this one, fixed) may have user namespaces.
    throw failure(
      'SandboxUnavailable',
      `bubblewrap could not set up the test sandbox on this worker: ${setup[1]} (fix: the worker needs user namespaces, e.g. a privileged container)`,
      { retryable: true },
    );
  }
  return {
    exitCode: result.timedOut ? null : (result.exitCode ?? null),
    ...(result.signal ? { signal: result.signal } : {}),
    timedOut: Boolean(result.timedOut),
    output,
  };
}
