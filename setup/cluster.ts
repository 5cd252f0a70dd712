// `kiln cluster up|down|status`: a real Temporal cluster on this machine, on loopback. PostgreSQL from
// Debian in its own data directory under KILN_STATE/cluster, its schema applied by Temporal's own SQL
// tool; the Temporal server at the version docker-compose.yml pins, with a config kiln writes; the Web
// UI server; the namespace and kiln's search attributes. Each process runs detached with a pid file
// and a log in KILN_STATE/cluster (as setup/services.ts runs the dev services), so `up` from any shell
// finds them again, `up` twice is fine, and the data survives `down`.
// This file: status, up and down. The parts: cluster-config.ts (ports, configs, command lines as
// data), cluster-processes.ts (detached processes, pid files, ports), cluster-postgres.ts,
// cluster-temporal.ts (tools, schema, namespace).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { KilnConfig } from '../config/config.js';
import { resolveTool } from '../adapters/toolchain.js';
import { operatorArgs } from '../adapters/temporal-cli.js';
import {
  asUser,
  clusterLayout,
  postgresCommands,
  serverCommand,
  serverConfig,
  uiCommand,
  uiConfig,
  type ClusterLayout,
} from './cluster-config.js';
import { ensurePostgres, ensureReachable, initdbOnce, password, postgresAccount } from './cluster-postgres.js';
import {
  requireFreePorts,
  runningPid,
  startDetached,
  stop,
  waitFor,
  type ComponentName,
  type Log,
} from './cluster-processes.js';
import { applySchema, buildTools, registerNamespace } from './cluster-temporal.js';
import { portOpen } from './services.js';

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
