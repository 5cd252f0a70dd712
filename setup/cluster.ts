// `kiln cluster up|down|status`: a real Temporal cluster on this machine, on loopback. PostgreSQL from
// Debian in its own data directory under KILN_STATE/cluster, its schema applied by Temporal's own SQL
// tool; the Temporal server at the version docker-compose.yml pins, with a config kiln writes; the Web
// UI server; the namespace and kiln's search attributes. Each process runs detached with a pid file
// and a log in KILN_STATE/cluster (as setup/services.ts runs the dev services), so `up` from any shell
// finds them again, `up` twice is fine, and the data survives `down`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { execa } from 'execa';
import type { KilnConfig } from '../config/config.js';
import { CLUSTER_TOOLS, cachedToolPath, resolveTool, type ClusterToolName } from '../adapters/toolchain.js';
import { operatorArgs } from '../adapters/temporal-cli.js';
import { failure } from '../domain/failures.js';
import { processAlive } from '../io/lock.js';
import { KILN_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import {
  asUser,
  clusterLayout,
  NAMESPACE_RETENTION,
  postgresCommands,
  schemaCommands,
  serverCommand,
  serverConfig,
  uiCommand,
  uiConfig,
  type ClusterLayout,
  type CommandLine,
} from './cluster-config.js';
import { portOpen } from './services.js';
import { installTool } from './setup.js';

type Log = (line: string) => void;

export type ComponentName = 'postgresql' | 'temporal-server' | 'web-ui';

interface Component {
  name: ComponentName;
  port: number;
  /** What to show a person: where to look. */
  url: string;
}

function components(layout: ClusterLayout): Component[] {
  const { host, ports } = layout;
  return [
    {
      name: 'postgresql',
      port: ports.postgresql,
      url: `postgresql://temporal@${host}:${ports.postgresql} (password in ${layout.passwordFile})`,
    },
    {
      name: 'temporal-server',
      port: ports.frontend,
      url: `${host}:${ports.frontend} (gRPC, namespace ${layout.namespace})`,
    },
    { name: 'web-ui', port: ports.ui, url: `http://${host}:${ports.ui}/namespaces/${layout.namespace}/workflows` },
  ];
}

const pidFile = (layout: ClusterLayout, name: ComponentName) => join(layout.dir, `${name}.pid`);
const logFile = (layout: ClusterLayout, name: string) => join(layout.dir, `${name}.log`);

function runningPid(layout: ClusterLayout, name: ComponentName): number | undefined {
  const file = pidFile(layout, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8'));
  return pid > 0 && processAlive(pid) ? pid : undefined;
}

/** The last lines of a log, for an error message. */
function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ComponentStatus {
  name: ComponentName;
  url: string;
  /** up: kiln's process answers; down: not running; starting: running, not answering yet;
   * external: something that is not kiln's cluster answers on its port. */
  state: 'up' | 'down' | 'starting' | 'external';
  pid?: number;
}

export async function clusterStatus(config: KilnConfig): Promise<ComponentStatus[]> {
  const layout = clusterLayout(config);
  const out: ComponentStatus[] = [];
  for (const c of components(layout)) {
    const pid = runningPid(layout, c.name);
    const open = await portOpen(layout.host, c.port);
    const state = pid ? (open ? 'up' : 'starting') : open ? 'external' : 'down';
    out.push({ name: c.name, url: c.url, state, pid });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL from Debian

/** The newest PostgreSQL major Debian installed: /usr/lib/postgresql/<major>/bin. */
function postgresBinDir(root = '/usr/lib/postgresql'): string | undefined {
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] && join(root, majors[0], 'bin');
}

async function ensurePostgres(log: Log): Promise<string> {
  const found = postgresBinDir();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw failure(
      'ToolMissing',
      'PostgreSQL is not installed and kiln is not running as root: run `sudo apt-get install -y postgresql` ' +
        'and then `kiln cluster up` again.',
    );
  }
  log('    postgresql: not installed; apt-get install -y postgresql (Debian)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await execa('apt-get', ['update', '-qq'], { env, reject: false });
  const run = await execa('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postgresql'], {
    env,
    reject: false,
    all: true,
  });
  const bin = postgresBinDir();
  if (run.exitCode !== 0 || !bin) {
    throw failure(
      'ToolMissing',
      `apt-get install postgresql failed (exit ${run.exitCode}):\n${(run.all ?? '').split('\n').slice(-10).join('\n')}`,
    );
  }
  return bin;
}

/** The account PostgreSQL runs as: the current one, or `postgres` (Debian's) when that is root. */
async function postgresAccount(): Promise<{ user?: string; uid: number; gid: number }> {
  if (process.getuid?.() !== 0) return { uid: process.getuid!(), gid: process.getgid!() };
  const id = async (flag: string) => (await execa('id', [flag, 'postgres'], { reject: false })).stdout.trim();
  const [uid, gid] = [Number(await id('-u')), Number(await id('-g'))];
  if (!uid || !Number.isInteger(gid)) {
    throw failure(
      'ToolMissing',
      'PostgreSQL refuses to run as root, and there is no `postgres` user to run it as ' +
        "(Debian's postgresql package makes it: apt-get install -y postgresql).",
    );
  }
  return { user: 'postgres', uid, gid };
}

/**
 * The user PostgreSQL runs as must be able to enter every directory down to its data directory. kiln
 * makes its own state directories enterable (o+x: not listable, not readable; keys stay 0700 inside);
 * a directory above KILN_STATE that is not is the person's to change, so it is an error that says so.
 */
function ensureReachable(layout: ClusterLayout, stateDir: string, account: { uid: number; gid: number }): void {
  const canEnter = (path: string) => {
    const st = statSync(path);
    if (st.uid === account.uid) return (st.mode & 0o100) !== 0;
    if (st.gid === account.gid) return (st.mode & 0o010) !== 0;
    return (st.mode & 0o001) !== 0;
  };
  const state = resolve(stateDir);
  const chain: string[] = [];
  for (let p = resolve(layout.dir); ; p = dirname(p)) {
    chain.unshift(p);
    if (p === dirname(p)) break;
  }
  for (const dir of chain) {
    if (canEnter(dir)) continue;
    const inState = dir === state || !relative(state, dir).startsWith('..');
    if (inState) {
      chmodSync(dir, statSync(dir).mode | 0o001);
      continue;
    }
    throw failure(
      'ConfigInvalid',
      `PostgreSQL runs as user postgres, which cannot enter ${dir} (mode ${(statSync(dir).mode & 0o777).toString(8)}) ` +
        `on the way to its data directory ${layout.dataDir}. Fix: set KILN_STATE to a directory outside ${dir}, ` +
        `or let others enter it: chmod o+x ${dir}`,
    );
  }
}

/** The `temporal` role's password, made with the data directory and kept in a 0600 file beside it. */
function password(layout: ClusterLayout): string {
  if (!existsSync(layout.passwordFile)) {
    throw failure(
      'ConfigInvalid',
      `${layout.passwordFile} is missing, so the server cannot log in to PostgreSQL in ${layout.dataDir}. ` +
        `Fix: restore the file, or stop the cluster and remove ${layout.dataDir} to start with an empty one.`,
    );
  }
  return readFileSync(layout.passwordFile, 'utf8').trim();
}

async function initdbOnce(
  layout: ClusterLayout,
  binDir: string,
  account: { user?: string; uid: number; gid: number },
  env: Record<string, string>,
  log: Log,
): Promise<void> {
  const major = binDir.split(sep).at(-2)!;
  const versionFile = join(layout.dataDir, 'PG_VERSION');
  if (existsSync(versionFile)) {
    const have = readFileSync(versionFile, 'utf8').trim();
    if (have !== major) {
      throw failure(
        'ConfigInvalid',
        `${layout.dataDir} holds a PostgreSQL ${have} cluster, but PostgreSQL ${major} is installed. ` +
          `Fix: install postgresql-${have}, or upgrade the data directory with pg_upgrade, or remove ${layout.dataDir} to start empty.`,
      );
    }
    return;
  }
  log(`    postgresql: initdb ${layout.dataDir} (PostgreSQL ${major}, as ${account.user ?? 'this user'})`);
  // A new data directory gets a new password (an interrupted first up may have left one).
  writeFileSync(layout.passwordFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  mkdirSync(layout.dataDir, { recursive: true, mode: 0o700 });
  chownSync(layout.dataDir, account.uid, account.gid);
  // initdb reads the password from a file the PostgreSQL user can read; it lives only for this call.
  const pwfile = join(layout.dir, '.initdb-password');
  writeFileSync(pwfile, `${password(layout)}\n`, { mode: 0o600 });
  chownSync(pwfile, account.uid, account.gid);
  try {
    const line = asUser(account.user, postgresCommands(binDir, layout).initdb(pwfile));
    const run = await execa(line.command, line.args, {
      cwd: layout.dir,
      env,
      extendEnv: false,
      reject: false,
      all: true,
    });
    writeFileSync(logFile(layout, 'initdb'), run.all ?? '');
    if (run.exitCode !== 0) {
      throw failure('ToolFailed', `initdb failed (exit ${run.exitCode}):\n${tail(logFile(layout, 'initdb'))}`);
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

function startDetached(
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
async function waitFor(
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
async function requireFreePorts(config: KilnConfig, layout: ClusterLayout): Promise<void> {
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

async function stop(layout: ClusterLayout, name: ComponentName, signal: NodeJS.Signals, graceMs: number, log: Log) {
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

// ---------------------------------------------------------------------------------------------
// Temporal

async function buildTools(config: KilnConfig, log: Log): Promise<Record<ClusterToolName, string>> {
  const names = Object.keys(CLUSTER_TOOLS) as ClusterToolName[];
  const missing = names.filter((n) => !existsSync(cachedToolPath(CLUSTER_TOOLS[n], config.tools.dir)));
  if (missing.length) log(`    building ${missing.join(', ')} once (cached in ${config.tools.dir}; minutes)`);
  for (const name of missing) await installTool(CLUSTER_TOOLS[name], config.tools.dir);
  return Object.fromEntries(names.map((n) => [n, resolveTool(n, config.tools)])) as Record<ClusterToolName, string>;
}

async function applySchema(
  layout: ClusterLayout,
  sqlTool: string,
  env: Record<string, string>,
  log: Log,
): Promise<void> {
  const schemaRoot = join(dirname(dirname(sqlTool)), 'schema', 'postgresql', 'v12');
  const out = logFile(layout, 'schema');
  writeFileSync(out, '');
  for (const line of schemaCommands(sqlTool, schemaRoot, layout)) {
    const run = await execa(line.command, line.args, {
      env: { ...env, SQL_PASSWORD: password(layout) },
      extendEnv: false,
      reject: false,
      all: true,
    });
    writeFileSync(out, `$ temporal-sql-tool ${line.args.join(' ')}\n${run.all ?? ''}\n`, { flag: 'a' });
    if (run.exitCode !== 0) {
      throw failure(
        'ToolFailed',
        `temporal-sql-tool ${line.args.slice(-3).join(' ')} failed; see ${out}:\n${tail(out)}`,
      );
    }
  }
  log(`    schema: temporal and temporal_visibility at this server's version (temporal-sql-tool; log ${out})`);
}

/** Runs one operator command until it succeeds (the frontend takes a moment to know a new namespace). */
async function operator(
  temporal: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await execa(temporal, args, { env, extendEnv: false, reject: false, all: true, timeout: 30_000 });
    if (run.exitCode === 0) return run.stdout;
    if (Date.now() > deadline) {
      throw failure('ToolFailed', `temporal ${args.slice(0, 3).join(' ')} failed (exit ${run.exitCode}): ${run.all}`);
    }
    await sleep(1000);
  }
}

async function registerNamespace(layout: ClusterLayout, temporal: string, env: Record<string, string>, log: Log) {
  const address = `${layout.host}:${layout.ports.frontend}`;
  const ns = layout.namespace;
  const describe = await execa(temporal, operatorArgs.describeNamespace(address, ns), {
    env,
    extendEnv: false,
    reject: false,
  });
  if (describe.exitCode === 0) {
    log(`    namespace ${ns}: registered`);
  } else {
    await operator(temporal, operatorArgs.createNamespace(address, ns, NAMESPACE_RETENTION), env, 60_000);
    await operator(temporal, operatorArgs.describeNamespace(address, ns), env, 60_000);
    log(`    namespace ${ns}: created (retention ${NAMESPACE_RETENTION})`);
  }
  const custom = async () => {
    const listed = JSON.parse(
      await operator(temporal, operatorArgs.listSearchAttributes(address, ns), env, 60_000),
    ) as {
      customAttributes?: Record<string, string>;
    };
    return listed.customAttributes ?? {};
  };
  const have = await custom();
  const sameType = (listed: string, type: string) =>
    [type, `INDEXED_VALUE_TYPE_${type}`].includes(listed.toUpperCase());
  const wrongType = KILN_SEARCH_ATTRIBUTES.filter((k) => have[k.name] && !sameType(have[k.name]!, k.type));
  if (wrongType.length) {
    throw failure(
      'ConfigInvalid',
      `namespace ${ns} has ${wrongType.map((k) => `${k.name} as ${have[k.name]}`).join(', ')}; kiln writes them as ` +
        `${wrongType.map((k) => k.type).join(', ')}. Fix: use another namespace (TEMPORAL_NAMESPACE).`,
    );
  }
  const missing = KILN_SEARCH_ATTRIBUTES.filter((k) => !have[k.name]);
  if (missing.length) {
    await operator(temporal, operatorArgs.createSearchAttributes(address, ns, missing), env, 60_000);
    const deadline = Date.now() + 60_000;
    while (KILN_SEARCH_ATTRIBUTES.some((k) => !(k.name in have))) {
      if (Date.now() > deadline) throw failure('ToolFailed', `search attributes not visible in ${ns} after 60s`);
      await sleep(1000);
      Object.assign(have, await custom());
    }
  }
  log(
    `    search attributes: ${KILN_SEARCH_ATTRIBUTES.map((k) => k.name).join(', ')} ` +
      `(${missing.length ? `created ${missing.length}` : 'registered'})`,
  );
}

// ---------------------------------------------------------------------------------------------

/**
 * Brings the cluster up: what runs is left alone, what does not is started, in order, each waited
 * for. Builds the server, its SQL tool and the Web UI server on first use, installs PostgreSQL when
 * missing (as root), initialises its data directory once; the schema, namespace and search
 * attributes are checked every time and added when missing.
 */
export async function clusterUp(config: KilnConfig, log: Log = console.log): Promise<ClusterLayout> {
  const layout = clusterLayout(config);
  const env = config.tools.environment;
  await requireFreePorts(config, layout);
  const tools = await buildTools(config, log);
  const temporal = resolveTool('temporal', config.tools);
  const binDir = await ensurePostgres(log);
  const account = await postgresAccount();
  mkdirSync(layout.dir, { recursive: true });
  if (account.user) ensureReachable(layout, config.paths.state, account);
  await initdbOnce(layout, binDir, account, env, log);

  const pg = postgresCommands(binDir, layout);
  const pgReady = async () => (await execa(pg.isReady().command, pg.isReady().args, { reject: false })).exitCode === 0;
  if (runningPid(layout, 'postgresql')) {
    log(`    postgresql: already up at ${layout.host}:${layout.ports.postgresql}`);
  } else {
    const child = startDetached(layout, 'postgresql', asUser(account.user, pg.server()), env);
    await waitFor(layout, 'postgresql', child, pgReady, 60_000);
    log(`    postgresql: started at ${layout.host}:${layout.ports.postgresql} (pid ${child.pid})`);
  }
  await waitFor(layout, 'postgresql', undefined, pgReady, 60_000);
  await applySchema(layout, tools['temporal-sql-tool'], env, log);

  const address = `${layout.host}:${layout.ports.frontend}`;
  if (runningPid(layout, 'temporal-server')) {
    log(`    temporal-server: already up at ${address}`);
  } else {
    mkdirSync(join(layout.serverRoot, 'config'), { recursive: true });
    // Holds the database password: readable by this user only.
    writeFileSync(join(layout.serverRoot, 'config', 'kiln.yaml'), serverConfig(layout, password(layout)), {
      mode: 0o600,
    });
    const child = startDetached(layout, 'temporal-server', serverCommand(tools['temporal-server'], layout), env);
    const healthy = async () =>
      (await execa(temporal, operatorArgs.health(address), { env, extendEnv: false, reject: false })).exitCode === 0;
    await waitFor(layout, 'temporal-server', child, healthy, 180_000);
    log(`    temporal-server: started at ${address} (pid ${child.pid})`);
  }
  await registerNamespace(layout, temporal, env, log);

  const ui = `http://${layout.host}:${layout.ports.ui}`;
  if (runningPid(layout, 'web-ui')) {
    log(`    web-ui: already up at ${ui}`);
  } else {
    mkdirSync(join(layout.uiRoot, 'config'), { recursive: true });
    writeFileSync(join(layout.uiRoot, 'config', 'kiln.yaml'), uiConfig(layout));
    const child = startDetached(layout, 'web-ui', uiCommand(tools['temporal-ui-server'], layout), env);
    await waitFor(layout, 'web-ui', child, () => portOpen(layout.host, layout.ports.ui), 60_000);
    log(`    web-ui: started at ${ui} (pid ${child.pid})`);
  }
  log(
    `    cluster up: Temporal at ${address}, namespace ${layout.namespace}, Web UI ${ui}; data and logs in ${layout.dir}`,
  );
  return layout;
}

/** Stops the Web UI, the server, then PostgreSQL (fast shutdown); the data directory stays. */
export async function clusterDown(config: KilnConfig, log: Log = console.log): Promise<void> {
  const layout = clusterLayout(config);
  await stop(layout, 'web-ui', 'SIGTERM', 10_000, log);
  await stop(layout, 'temporal-server', 'SIGTERM', 60_000, log);
  // SIGINT is PostgreSQL's fast shutdown: it does not wait for clients (there are none left).
  await stop(layout, 'postgresql', 'SIGINT', 60_000, log);
}
