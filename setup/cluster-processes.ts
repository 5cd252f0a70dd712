// `kiln cluster`'s processes (setup/cluster.ts): each component runs detached with a pid file and a
// log in KILN_STATE/cluster, so `up` from any shell finds it again; started, waited for until it
// answers (or failed with the end of its log), stopped with a grace period; and the ports every
// component needs, checked free before anything starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KilnConfig } from '../config/config.js';
import { failure } from '../domain/failures.js';
import { processAlive } from '../io/lock.js';
import type { ClusterLayout, CommandLine } from './cluster-config.js';
import { portOpen } from './services.js';

export type Log = (line: string) => void;

export type ComponentName = 'postgresql' | 'temporal-server' | 'web-ui';

const pidFile = (layout: ClusterLayout, name: ComponentName) => join(layout.dir, `${name}.pid`);
export const logFile = (layout: ClusterLayout, name: string) => join(layout.dir, `${name}.log`);

export function runningPid(layout: ClusterLayout, name: ComponentName): number | undefined {
  const file = pidFile(layout, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8'));
  return pid > 0 && processAlive(pid) ? pid : undefined;
}

/** The last lines of a log, for an error message. */
export function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a component detached, its output appended to its log, its pid in its pid file. */
export function startDetached(
  layout: ClusterLayout,
  name: ComponentName,
  line: CommandLine,
  env: Record<string, string>,
): ChildProcess {
  const fd = openSync(logFile(layout, name), 'a');
  const child = spawn(line.command, line.args, { cwd: layout.dir, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  writeFileSync(pidFile(layout, name), String(child.pid));
  return child;
}

/** Polls `ready` until it holds; a process that exits first, or the deadline, fails with its log. */
export async function waitFor(
  layout: ClusterLayout,
  name: ComponentName,
  child: ChildProcess | undefined,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    const exited = child && child.exitCode !== null;
    if (exited || Date.now() > deadline) {
      const why = exited ? `exited with ${child.exitCode}` : `did not answer within ${timeoutMs / 1000}s`;
      throw failure(
        'ToolCrashed',
        `${name} ${why}; its log ${logFile(layout, name)} ends:\n${tail(logFile(layout, name))}`,
      );
    }
    await sleep(500);
  }
}

/** The ports each component listens on. */
function componentPorts(layout: ClusterLayout): Record<ComponentName, number[]> {
  const p = layout.ports;
  return {
    postgresql: [p.postgresql],
    'temporal-server': [
      p.frontend,
      p.frontendHttp,
      p.frontendMembership,
      p.history,
      p.historyMembership,
      p.matching,
      p.matchingMembership,
      p.worker,
      p.workerMembership,
    ],
    'web-ui': [p.ui],
  };
}

/**
 * Before anything starts: the ports of every component kiln is about to start must be free. The
 * likeliest holder is the embedded dev server (`kiln dev up`), which listens on the same
 * TEMPORAL_ADDRESS and KILN_WEB_UI by default: say so.
 */
export async function requireFreePorts(config: KilnConfig, layout: ClusterLayout): Promise<void> {
  const taken: string[] = [];
  for (const [name, ports] of Object.entries(componentPorts(layout)) as [ComponentName, number[]][]) {
    if (runningPid(layout, name)) continue;
    const busy: number[] = [];
    for (const port of ports) if (await portOpen(layout.host, port)) busy.push(port);
    if (busy.length) taken.push(`${name} needs ${busy.map((p) => `${layout.host}:${p}`).join(', ')}`);
  }
  if (!taken.length) return;
  const devPid = join(config.paths.services, 'temporal.pid');
  const devUp = existsSync(devPid) && processAlive(Number(readFileSync(devPid, 'utf8')));
  throw failure(
    'ConfigInvalid',
    `ports in use: ${taken.join('; ')}. ` +
      (devUp
        ? 'The embedded dev server (`kiln dev up`) is running and listens on the same TEMPORAL_ADDRESS and KILN_WEB_UI. ' +
          'Fix: `kiln dev down` first, or give the cluster other ports with TEMPORAL_ADDRESS and KILN_WEB_UI.'
        : 'Fix: stop what listens there, or move the cluster with TEMPORAL_ADDRESS (its other ports follow it) and KILN_WEB_UI.'),
  );
}

/** Stops a component with `signal`, then SIGKILL after `graceMs`; its pid file goes either way. */
export async function stop(
  layout: ClusterLayout,
  name: ComponentName,
  signal: NodeJS.Signals,
  graceMs: number,
  log: Log,
) {
  const pid = runningPid(layout, name);
  if (!pid) {
    rmSync(pidFile(layout, name), { force: true });
    log(`    ${name}: not running`);
    return;
  }
  process.kill(pid, signal);
  const deadline = Date.now() + graceMs;
  while (processAlive(pid) && Date.now() < deadline) await sleep(200);
  if (processAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (processAlive(pid)) await sleep(100);
    log(`    ${name}: killed (did not stop within ${graceMs / 1000}s of ${signal})`);
  } else {
    log(`    ${name}: stopped`);
  }
  rmSync(pidFile(layout, name), { force: true });
}
