// Tool adapters: one module per external program kiln runs (melange, apko, git, ...), all through
// this runner. Runs one external tool for an activity: argument arrays (never a shell string), an
// explicit minimal environment (never the worker's: no credential reaches a tool), the log streamed
// to a file, a heartbeat while it runs, and the process killed when the activity is cancelled.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { toolEnvironment } from '../config/config.js';
import { failure } from '../domain/failures.js';
import { classifyToolFailure, runtimeCrash } from '../domain/tool-failures.js';

export interface ToolRun {
  /** Short name for messages, e.g. "melange build". */
  label: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
  /**
   * The environment to start from: config.tools.environment (PATH, HOME, TMPDIR, TLS roots and
   * proxies of the worker). Without it (git, which runs outside any config), the system PATH, HOME
   * and TMPDIR. Nothing else of the worker's environment reaches the tool.
   */
  baseEnv?: Record<string, string>;
  /** Variables this tool needs on top (e.g. SOURCE_DATE_EPOCH for melange and apko). */
  env?: Record<string, string>;
  /** Progress detail sent with each heartbeat. */
  heartbeatDetails?: unknown;
  /** Killed after this long (as if by a signal). */
  timeoutMs?: number;
}

export interface ToolResult {
  stdout: string;
  logFile: string;
  durationMs: number;
}

/** A run whose exit code is an answer, not a verdict (`git rev-parse --verify` says "no" with 1). */
export interface CapturedRun {
  /** Undefined when the process was killed, timed out or could not start. */
  exitCode?: number;
  stdout: string;
  stderr: string;
  /** Why there is no exit code, when there is none. */
  reason?: string;
  durationMs: number;
}

const HEARTBEAT_EVERY_MS = 5_000;
/** How much of a failed tool's log its cause is read from (the message quotes less). */
const CLASSIFY_LINES = 80;

function inActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called from a script or a unit test, outside any activity
  }
}

/** Flags that switch off repository or package signature checks: no kiln run ever passes one. */
const UNVERIFIED_FLAGS = ['--ignore-signatures', '--allow-untrusted'];

function refuseUnverified(run: Pick<ToolRun, 'label' | 'args'>): void {
  const flag = run.args.find((a) => UNVERIFIED_FLAGS.includes(a.split('=')[0]!));
  if (flag) throw failure('ConfigInvalid', `${run.label}: kiln never runs a tool with ${flag}`);
}

/** The line a run starts its part of the log with. */
const commandLine = (run: Pick<ToolRun, 'command' | 'args'>) => `$ ${run.command} ${run.args.join(' ')}\n`;

/** What this run's tool wrote to the log (appended to by every attempt and run), without its command line. */
async function ownOutput(run: ToolRun): Promise<string> {
  const text = await readFile(run.logFile, 'utf8').catch(() => '');
  const start = text.lastIndexOf(commandLine(run));
  return start < 0 ? text : text.slice(start + commandLine(run).length);
}

/** The last lines of a log, where tools print the reason they failed. */
export async function logTail(logFile: string, lines = 25): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Runs the process with heartbeats and cancellation; only a cancellation throws. */
async function execute(
  run: Omit<ToolRun, 'logFile'> & { logFile?: string },
): Promise<CapturedRun & { signal?: string }> {
  let log: WriteStream | undefined;
  if (run.logFile) {
    await mkdir(dirname(run.logFile), { recursive: true });
    log = createWriteStream(run.logFile, { flags: 'a' });
    log.write(commandLine(run));
  }
  const ctx = inActivity();
  const started = Date.now();
  const child = execa(run.command, run.args, {
    cwd: run.cwd,
    env: { ...(run.baseEnv ?? toolEnvironment({ HOME: homedir(), TMPDIR: tmpdir() })), ...run.env },
    extendEnv: false,
    all: true,
    reject: false,
    stdin: 'ignore',
    timeout: run.timeoutMs,
    cancelSignal: ctx?.cancellationSignal,
    forceKillAfterDelay: 5_000,
  });
  if (log) child.all?.pipe(log, { end: false });
  const beat = ctx
    ? setInterval(
        () =>
          ctx.heartbeat(
            run.heartbeatDetails ?? { tool: run.label, seconds: Math.round((Date.now() - started) / 1000) },
          ),
        HEARTBEAT_EVERY_MS,
      )
    : undefined;
  const result = await child;
  if (beat) clearInterval(beat);
  if (log) await new Promise<void>((done) => log.end(done));
  if (result.isCanceled) throw failure('Cancelled', `${run.label} was cancelled`);
  return {
    exitCode: result.signal ? undefined : result.exitCode,
    signal: result.signal,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    ...(result.signal || result.exitCode === undefined ? { reason: result.signal ?? result.shortMessage } : {}),
    durationMs: Date.now() - started,
  };
}

/**
 * A tool that exits non-zero has usually judged its input (config, lint, test): a retry cannot
 * change that, so the failure is non-retryable (ToolFailed) and carries the tool's own words. Its
 * words can say otherwise (domain/tool-failures.ts): the network failed it (ToolNetworkFailure,
 * retried with backoff), or a repository's index does not verify with the catalog's keyring
 * (SignatureInvalid, naming the repository and the keys). A tool killed by a signal (OOM, a host
 * hiccup) or failing to start is retried (ToolCrashed).
 */
export async function runTool(run: ToolRun): Promise<ToolResult> {
  refuseUnverified(run);
  const r = await execute(run);
  if (r.exitCode === 0) return { stdout: r.stdout, logFile: run.logFile, durationMs: r.durationMs };
  const tail = await logTail(run.logFile);
  if (r.exitCode === undefined) {
    throw failure('ToolCrashed', `${run.label} was killed (${r.reason}); log: ${run.logFile}\n${tail}`);
  }
  const failed = `${run.label} failed with exit code ${r.exitCode}`;
  // Only this run's words count: an earlier run's failure in the same log is not this one's cause.
  const own = await ownOutput(run);
  const crash = runtimeCrash(own);
  if (crash)
    throw failure(
      'ToolCrashed',
      `${failed}: a signal took it down (${crash.evidence}); retried; log: ${run.logFile}\n${tail}`,
    );
  const cause = classifyToolFailure(own.split('\n').slice(-CLASSIFY_LINES).join('\n'));
  if (cause.kind === 'untrusted-index')
    throw failure(
      'SignatureInvalid',
      `${failed}: repository ${cause.repository} is not trusted: its index ${cause.index} ${cause.reason} ` +
        `(fix: sign the index with a key in catalog.yaml keyring, or, if you trust the key that signed it, add its public key to keyring); log: ${run.logFile}\n${tail}`,
    );
  if (cause.kind === 'network')
    throw failure(
      'ToolNetworkFailure',
      `${failed} because the network failed it (${cause.evidence}); retried with backoff; log: ${run.logFile}\n${tail}`,
    );
  throw failure('ToolFailed', `${failed}; log: ${run.logFile}\n${tail}`);
}

/**
 * Runs a tool whose exit code the caller interprets; output is captured, and logged too when a
 * log file is given. Only a cancellation throws (Cancelled).
 */
export async function captureTool(run: Omit<ToolRun, 'logFile'> & { logFile?: string }): Promise<CapturedRun> {
  refuseUnverified(run);
  const { signal: _signal, ...captured } = await execute(run);
  return captured;
}
