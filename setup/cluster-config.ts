// `kiln cluster` as data: the ports, the Temporal server's and Web UI's config files, and every command
// line that brings a real Temporal cluster up on this machine (PostgreSQL from Debian, the server at
// the version docker-compose.yml pins, its schema tool, the Web UI server). Pure: setup/cluster.ts
// runs them. Loopback only, like the embedded services.
import { join } from 'node:path';
import { dump } from 'js-yaml';
import type { KilnConfig } from '../config/config.js';
import { configInvalid } from '../domain/failures.js';
import { isLoopback } from './services.js';

/** The server reads `<root>/config/<env>.yaml`; kiln writes `kiln.yaml`. */
export const CONFIG_ENV = 'kiln';
/** The PostgreSQL role Temporal connects as (initdb's superuser; the cluster is this machine's only). */
export const DB_USER = 'temporal';
export const DATABASES = { default: 'temporal', visibility: 'temporal_visibility' } as const;
/** Fixed at the cluster's creation: the server refuses to start when it changes. Small: one machine. */
export const NUM_HISTORY_SHARDS = 4;
/** How long closed runs stay visible (rerunFailedOf reads an earlier run's result). */
export const NAMESPACE_RETENTION = '7d';
/** The frontend ports the laid-out set fits around (see clusterPorts). */
export const MIN_FRONTEND_PORT = 1024 + 1800;
export const MAX_FRONTEND_PORT = 32767 + 294;

export interface ClusterPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  postgresql: number;
  ui: number;
}

export interface ClusterLayout {
  /** The loopback address every component binds to. */
  host: string;
  namespace: string;
  /** KILN_STATE/cluster: everything below is the cluster's. */
  dir: string;
  /** PostgreSQL's data directory (owned by the user PostgreSQL runs as). */
  dataDir: string;
  /** The `temporal` role's password (mode 0600), made at the first `up`. */
  passwordFile: string;
  /** `--root` of temporal-server: it reads config/kiln.yaml below it. */
  serverRoot: string;
  /** `--root` of the Web UI server: config/kiln.yaml below it. */
  uiRoot: string;
  ports: ClusterPorts;
}

function hostPort(address: string, defaultPort: number, variable: string): { host: string; port: number } {
  const m = /^(?:https?:\/\/)?([^/:]+)(?::(\d+))?/.exec(address);
  if (!m) throw configInvalid(`${variable}=${address}: expected host:port`);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : defaultPort };
}

/**
 * The cluster's ports, laid out around the frontend's as Temporal lays out its defaults around 7233
 * (history 7234, matching 7235, worker 7239, membership 6933-6939, HTTP 7243), and PostgreSQL at
 * frontend - 1800: 5433 for the default 7233, next to a Debian PostgreSQL on 5432, never on it.
 * A test's cluster on another frontend port so gets its own set. The server records membership
 * ports in a PostgreSQL smallint column, so they, and so the frontend, stay below 32768.
 */
export function clusterPorts(frontend: number, ui: number): ClusterPorts {
  if (!Number.isInteger(frontend) || frontend < MIN_FRONTEND_PORT || frontend > MAX_FRONTEND_PORT) {
    throw configInvalid(
      `TEMPORAL_ADDRESS port ${frontend}: kiln cluster puts PostgreSQL at ${frontend - 1800} and the membership ports ` +
        `at ${frontend - 300} to ${frontend - 294}, which must lie from 1024 to 32767: Temporal keeps them as a ` +
        `smallint (fix: a frontend port from ${MIN_FRONTEND_PORT} to ${MAX_FRONTEND_PORT}, e.g. the default 7233)`,
    );
  }
  return {
    frontend,
    frontendHttp: frontend + 10,
    frontendMembership: frontend - 300,
    history: frontend + 1,
    historyMembership: frontend - 299,
    matching: frontend + 2,
    matchingMembership: frontend - 298,
    worker: frontend + 6,
    workerMembership: frontend - 294,
    postgresql: frontend - 1800,
    ui,
  };
}

/**
 * Where the cluster lives and listens: the frontend at TEMPORAL_ADDRESS and the Web UI at KILN_WEB_UI,
 * the addresses workers, the CLI and summary links already use, so a cluster replaces the dev server
 * without any other setting. Both must be loopback addresses.
 */
export function clusterLayout(config: KilnConfig): ClusterLayout {
  const frontend = hostPort(config.temporal.connection.address, 7233, 'TEMPORAL_ADDRESS');
  const ui = hostPort(config.temporal.webUi, 8233, 'KILN_WEB_UI');
  const problems = [
    [frontend.host, 'TEMPORAL_ADDRESS', config.temporal.connection.address],
    [ui.host, 'KILN_WEB_UI', config.temporal.webUi],
  ]
    .filter(([host]) => !isLoopback(host!) || host!.includes(':'))
    .map(([, name, value]) => `${name}=${value}: kiln cluster runs on 127.0.0.1 only (fix: a 127.0.0.1 address)`);
  if (problems.length) throw configInvalid(problems.join('\n'));
  const host = frontend.host === 'localhost' ? '127.0.0.1' : frontend.host;
  const dir = join(config.paths.state, 'cluster');
  return {
    host,
    namespace: config.temporal.namespace,
    dir,
    dataDir: join(dir, 'postgresql'),
    passwordFile: join(dir, 'postgresql.password'),
    serverRoot: join(dir, 'server'),
    uiRoot: join(dir, 'ui'),
    ports: clusterPorts(frontend.port, ui.port),
  };
}

/** The server's config file, for the PostgreSQL-backed default and visibility stores. */
export function serverConfig(layout: ClusterLayout, password: string): string {
  const { host, ports } = layout;
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${host}:${ports.postgresql}`,
      connectProtocol: 'tcp',
      user: DB_USER,
      password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number, membershipPort: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: host, ...(httpPort ? { httpPort } : {}) },
  });
  const disabled = { history: { state: 'disabled' }, visibility: { state: 'disabled' } };
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: NUM_HISTORY_SHARDS,
      datastores: {
        // Each of the four services keeps its own pools: 4 x (20 + 5) stays below max_connections.
        'postgres-default': store(DATABASES.default, 20),
        'postgres-visibility': store(DATABASES.visibility, 5),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: host } },
    services: {
      frontend: rpc(ports.frontend, ports.frontendMembership, ports.frontendHttp),
      history: rpc(ports.history, ports.historyMembership),
      matching: rpc(ports.matching, ports.matchingMembership),
      worker: rpc(ports.worker, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `${host}:${ports.frontend}`,
          httpAddress: `${host}:${ports.frontendHttp}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: disabled,
    namespaceDefaults: { archival: disabled },
    publicClient: { hostPort: `${host}:${ports.frontend}` },
  };
  return `# Written by kiln cluster up (setup/cluster-config.ts) at every start; edits are overwritten.\n${dump(config)}`;
}

/** The Web UI server's config file: the cluster's frontend, loopback, no telemetry of new versions. */
export function uiConfig(layout: ClusterLayout): string {
  const config = {
    temporalGrpcAddress: `${layout.host}:${layout.ports.frontend}`,
    host: layout.host,
    port: layout.ports.ui,
    enableUi: true,
    defaultNamespace: layout.namespace,
    notifyOnNewVersion: false,
    // Plain HTTP on loopback: the CSRF cookie must travel without TLS (as the dev server's UI does).
    cors: { cookieInsecure: true },
    hideLogs: true,
  };
  return `# Written by kiln cluster up (setup/cluster-config.ts) at every start; edits are overwritten.\n${dump(config)}`;
}

export interface CommandLine {
  command: string;
  args: string[];
}

/**
 * PostgreSQL refuses to run as root: as root, every PostgreSQL program runs as `user` through
 * setpriv, which execs it (the pid kiln records is the postmaster's own).
 */
export function asUser(user: string | undefined, line: CommandLine): CommandLine {
  if (!user) return line;
  return {
    command: 'setpriv',
    args: ['--reuid', user, '--regid', user, '--init-groups', '--', line.command, ...line.args],
  };
}

/** Debian's PostgreSQL programs of one major version: initdb, the server, and its readiness probe. */
export function postgresCommands(binDir: string, layout: ClusterLayout) {
  const { host, ports, dataDir } = layout;
  return {
    /** A new data directory whose superuser is `temporal` with the password in `pwfile`. */
    initdb: (pwfile: string): CommandLine => ({
      command: join(binDir, 'initdb'),
      args: [
        '-D',
        dataDir,
        '-U',
        DB_USER,
        `--pwfile=${pwfile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=peer',
        '--encoding=UTF8',
        '--no-locale',
      ],
    }),
    /** TCP on the loopback address only, no Unix socket (nothing to collide with a system cluster's). */
    server: (): CommandLine => ({
      command: join(binDir, 'postgres'),
      args: ['-D', dataDir, '-h', host, '-p', String(ports.postgresql), '-k', '', '-c', 'max_connections=150'],
    }),
    isReady: (): CommandLine => ({
      command: join(binDir, 'pg_isready'),
      args: ['-h', host, '-p', String(ports.postgresql), '-d', 'postgres', '-t', '2'],
    }),
  };
}

/**
 * Temporal's own schema steps, for both databases: create the database, set up schema versioning
 * (`setup-schema -v 0.0`), then apply every versioned change up to this server's (`update-schema -d`).
 * Each is idempotent, so every `up` runs them and an upgraded pin migrates an existing cluster. The
 * password travels in SQL_PASSWORD (the tool's own variable), never on a command line.
 */
export function schemaCommands(sqlTool: string, schemaRoot: string, layout: ClusterLayout): CommandLine[] {
  const connect = ['--plugin', 'postgres12', '--ep', layout.host, '-p', String(layout.ports.postgresql), '-u', DB_USER];
  return (
    [
      [DATABASES.default, 'temporal'],
      [DATABASES.visibility, 'visibility'],
    ] as const
  ).flatMap(([db, schema]) => [
    { command: sqlTool, args: [...connect, '--db', db, 'create-database'] },
    { command: sqlTool, args: [...connect, '--db', db, 'setup-schema', '-v', '0.0'] },
    { command: sqlTool, args: [...connect, '--db', db, 'update-schema', '-d', join(schemaRoot, schema, 'versioned')] },
  ]);
}

export function serverCommand(server: string, layout: ClusterLayout): CommandLine {
  return {
    command: server,
    args: ['--root', layout.serverRoot, '--config', 'config', '--env', CONFIG_ENV, '--allow-no-auth', 'start'],
  };
}

export function uiCommand(uiServer: string, layout: ClusterLayout): CommandLine {
  return { command: uiServer, args: ['--root', layout.uiRoot, '--config', 'config', '--env', CONFIG_ENV, 'start'] };
}
