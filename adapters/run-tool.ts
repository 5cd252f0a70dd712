// Runs one external tool for an activity: argument arrays (never a shell string), the log streamed
// to a file, a heartbeat while it runs, and the process killed when the activity is cancelled.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';

export interface ToolRun {
  /** Short name for messages, e.g. "melange build". */
  label: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Progress detail sent with each heartbeat. */
  heartbeatDetails?: unknown;
}

export interface ToolResult {
  stdout: string;
  logFile: string;
  durationMs: number;
}

const HEARTBEAT_EVERY_MS = 5_000;

function inActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called from a script or a unit test, outside any activity
  }
}

/** The last lines of a log, where tools print the reason they failed. */
export async function logTail(logFile: string, lines = 25): Promise<string> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * A tool that exits non-zero has judged its input (config, lint, test, signature): a retry
 * cannot change that, so the failure is non-retryable and carries the tool's own words. A tool
 * killed by a signal (OOM, a host hiccup) or failing to start is retried.
 */
export async function runTool(run: ToolRun): Promise<ToolResult> {
  await mkdir(dirname(run.logFile), { recursive: true });
  const log = createWriteStream(run.logFile, { flags: 'a' });
  log.write(`$ ${run.command} ${run.args.join(' ')}\n`);
  const ctx = inActivity();
  const started = Date.now();
  const child = execa(run.command, run.args, {
    cwd: run.cwd,
    env: run.env,
    all: true,
    reject: false,
    stdin: 'ignore',
    cancelSignal: ctx?.cancellationSignal,
    forceKillAfterDelay: 5_000,
  });
  child.all?.pipe(log, { end: false });
  const beat = ctx
    ? setInterval(() => ctx.heartbeat(run.heartbeatDetails ?? { tool: run.label, seconds: Math.round((Date.now() - started) / 1000) }), HEARTBEAT_EVERY_MS)
    : undefined;
  const result = await child;
  if (beat) clearInterval(beat);
  await new Promise<void>((done) => log.end(done));
  const durationMs = Date.now() - started;
  if (result.isCanceled) throw ApplicationFailure.retryable(`${run.label} was cancelled`, 'Cancelled');
  if (result.exitCode === 0) return { stdout: result.stdout as string, logFile: run.logFile, durationMs };
  const tail = await logTail(run.logFile);
  if (result.signal || result.exitCode === undefined) {
    throw ApplicationFailure.retryable(
      `${run.label} was killed (${result.signal ?? result.shortMessage}); log: ${run.logFile}\n${tail}`,
      'ToolCrashed',
    );
  }
  throw ApplicationFailure.nonRetryable(
    `${run.label} failed with exit code ${result.exitCode}; log: ${run.logFile}\n${tail}`,
    'ToolFailed',
  );
}
