// `kiln cluster` as data, without starting anything: where it listens, what the server and the Web UI
// are told, and each command line setup/cluster.ts runs.
import { describe, expect, it } from 'vitest';
import { load } from 'js-yaml';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig, type Environment } from '../../../config/config.js';
import { CLUSTER_TOOLS, TOOLS } from '../../../adapters/toolchain.js';
import { operatorArgs } from '../../../adapters/temporal-cli.js';
import { toolsToBuild } from '../../../setup/setup.js';
import {
  asUser,
  clusterLayout,
  clusterPorts,
  postgresCommands,
  schemaCommands,
  serverCommand,
  serverConfig,
  uiCommand,
  uiConfig,
} from '../../../setup/cluster-config.js';
import { KILN_SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes.js';

const layoutFor = (env: Environment = {}) => clusterLayout(loadConfig({ KILN_STATE: '/srv/kiln', ...env }));

interface Rpc {
  grpcPort: number;
  membershipPort: number;
  bindOnIP: string;
  httpPort?: number;
}
interface ServerYaml {
  log: { level: string };
  persistence: {
    defaultStore: string;
    visibilityStore: string;
    numHistoryShards: number;
    datastores: Record<string, { sql: Record<string, unknown> }>;
  };
  global: { membership: { broadcastAddress: string } };
  services: Record<'frontend' | 'history' | 'matching' | 'worker', { rpc: Rpc }>;
  clusterMetadata: { currentClusterName: string; clusterInformation: Record<string, { rpcAddress: string }> };
  publicClient: { hostPort: string };
}

describe('clusterLayout', () => {
  it('listens where workers and the CLI already connect: TEMPORAL_ADDRESS and KILN_WEB_UI', () => {
    const layout = layoutFor();
    expect(layout).toMatchObject({
      host: '127.0.0.1',
      namespace: 'default',
      dir: '/srv/kiln/cluster',
      dataDir: '/srv/kiln/cluster/postgresql',
      passwordFile: '/srv/kiln/cluster/postgresql.password',
    });
    // Temporal's own default layout around 7233, and PostgreSQL beside Debian's 5432, not on it.
    expect(layout.ports).toEqual({
      frontend: 7233,
      frontendHttp: 7243,
      frontendMembership: 6933,
      history: 7234,
      historyMembership: 6934,
      matching: 7235,
      matchingMembership: 6935,
      worker: 7239,
      workerMembership: 6939,
      postgresql: 5433,
      ui: 8233,
    });
  });

  it('moves every port with the frontend, so a second cluster (a test) gets its own set', () => {
    const layout = layoutFor({
      TEMPORAL_ADDRESS: 'localhost:30000',
      KILN_WEB_UI: 'http://127.0.0.1:40100',
      TEMPORAL_NAMESPACE: 'kiln',
    });
    expect(layout.host).toBe('127.0.0.1');
    expect(layout.namespace).toBe('kiln');
    const ports = Object.values(layout.ports);
    expect(new Set(ports).size).toBe(ports.length);
    expect(layout.ports).toMatchObject({ frontend: 30000, postgresql: 28200, ui: 40100 });
  });

  it('refuses addresses off loopback, and frontend ports that leave no room for the others', () => {
    expect(() => layoutFor({ TEMPORAL_ADDRESS: 'temporal.example.com:7233' })).toThrow(
      /TEMPORAL_ADDRESS=temporal\.example\.com:7233: kiln cluster runs on 127\.0\.0\.1 only/,
    );
    expect(() => layoutFor({ KILN_WEB_UI: 'http://10.0.0.5:8080' })).toThrow(/KILN_WEB_UI=.*127\.0\.0\.1 only/);
    expect(() => clusterPorts(2000, 8233)).toThrow(ApplicationFailure);
    expect(() => clusterPorts(2000, 8233)).toThrow(/from 2824 to 33061/);
    // Temporal keeps membership ports in a smallint column: above 32767 the server cannot start.
    expect(() => clusterPorts(40000, 8233)).toThrow(
      /membership ports at 39700 to 39706, which must lie from 1024 to 32767/,
    );
    expect(clusterPorts(33061, 8233).workerMembership).toBe(32767);
  });
});

describe('serverConfig', () => {
  const layout = layoutFor({ TEMPORAL_ADDRESS: '127.0.0.1:30000' });
  const yaml = load(serverConfig(layout, 's3cret')) as ServerYaml;

  it('keeps both stores in PostgreSQL with the postgres12 plugin, on the cluster own port', () => {
    expect(yaml.persistence).toMatchObject({ numHistoryShards: 4 });
    const stores = yaml.persistence.datastores;
    expect(stores[yaml.persistence.defaultStore]!.sql).toMatchObject({
      pluginName: 'postgres12',
      databaseName: 'temporal',
      connectAddr: '127.0.0.1:28200',
      connectProtocol: 'tcp',
      user: 'temporal',
      password: 's3cret',
    });
    expect(stores[yaml.persistence.visibilityStore]!.sql).toMatchObject({
      pluginName: 'postgres12',
      databaseName: 'temporal_visibility',
      connectAddr: '127.0.0.1:28200',
    });
  });

  it('binds every service to loopback on the laid-out ports', () => {
    expect(yaml.services).toEqual({
      frontend: { rpc: { grpcPort: 30000, membershipPort: 29700, bindOnIP: '127.0.0.1', httpPort: 30010 } },
      history: { rpc: { grpcPort: 30001, membershipPort: 29701, bindOnIP: '127.0.0.1' } },
      matching: { rpc: { grpcPort: 30002, membershipPort: 29702, bindOnIP: '127.0.0.1' } },
      worker: { rpc: { grpcPort: 30006, membershipPort: 29706, bindOnIP: '127.0.0.1' } },
    });
    expect(yaml.global.membership.broadcastAddress).toBe('127.0.0.1');
    expect(yaml.clusterMetadata.clusterInformation[yaml.clusterMetadata.currentClusterName]!.rpcAddress).toBe(
      '127.0.0.1:30000',
    );
    expect(yaml.publicClient.hostPort).toBe('127.0.0.1:30000');
  });

  it('points the Web UI at the frontend, on its own loopback port', () => {
    expect(load(uiConfig(layout))).toMatchObject({
      temporalGrpcAddress: '127.0.0.1:30000',
      host: '127.0.0.1',
      port: 8233,
      enableUi: true,
      defaultNamespace: 'default',
    });
  });
});

describe('command lines', () => {
  const layout = layoutFor();

  it('runs PostgreSQL as its own user under root, on loopback TCP only', () => {
    const pg = postgresCommands('/usr/lib/postgresql/15/bin', layout);
    expect(asUser('postgres', pg.server())).toEqual({
      command: 'setpriv',
      args: [
        '--reuid',
        'postgres',
        '--regid',
        'postgres',
        '--init-groups',
        '--',
        '/usr/lib/postgresql/15/bin/postgres',
        '-D',
        '/srv/kiln/cluster/postgresql',
        '-h',
        '127.0.0.1',
        '-p',
        '5433',
        '-k',
        '',
        '-c',
        'max_connections=150',
      ],
    });
    // Not root: the same program, as this user.
    expect(asUser(undefined, pg.server()).command).toBe('/usr/lib/postgresql/15/bin/postgres');
    expect(pg.initdb('/tmp/pw').args).toEqual(
      expect.arrayContaining(['-U', 'temporal', '--pwfile=/tmp/pw', '--auth-host=scram-sha-256']),
    );
  });

  it('sets up both schemas with Temporal own SQL tool: create, versioning, then every versioned change', () => {
    const steps = schemaCommands('/t/bin/temporal-sql-tool', '/t/schema/postgresql/v12', layout).map((c) => {
      expect(c.command).toBe('/t/bin/temporal-sql-tool');
      expect(c.args.slice(0, 8)).toEqual([
        '--plugin',
        'postgres12',
        '--ep',
        '127.0.0.1',
        '-p',
        '5433',
        '-u',
        'temporal',
      ]);
      expect(c.args.join(' ')).not.toMatch(/--pw|password/);
      return c.args.slice(8).join(' ');
    });
    expect(steps).toEqual([
      '--db temporal create-database',
      '--db temporal setup-schema -v 0.0',
      '--db temporal update-schema -d /t/schema/postgresql/v12/temporal/versioned',
      '--db temporal_visibility create-database',
      '--db temporal_visibility setup-schema -v 0.0',
      '--db temporal_visibility update-schema -d /t/schema/postgresql/v12/visibility/versioned',
    ]);
  });

  it('starts the server and the Web UI from the config files kiln writes', () => {
    expect(serverCommand('/t/temporal-server', layout).args).toEqual([
      '--root',
      '/srv/kiln/cluster/server',
      '--config',
      'config',
      '--env',
      'kiln',
      '--allow-no-auth',
      'start',
    ]);
    expect(uiCommand('/t/temporal-ui-server', layout).args).toEqual([
      '--root',
      '/srv/kiln/cluster/ui',
      '--config',
      'config',
      '--env',
      'kiln',
      'start',
    ]);
  });

  it("registers kiln's search attributes in one CLI call, ignoring a person's Temporal profile", () => {
    const args = operatorArgs.createSearchAttributes('127.0.0.1:7233', 'default', KILN_SEARCH_ATTRIBUTES);
    expect(args.slice(0, 5)).toEqual(['operator', 'search-attribute', 'create', '--namespace', 'default']);
    for (const k of KILN_SEARCH_ATTRIBUTES) expect(args.join(' ')).toContain(`--name ${k.name} --type Keyword`);
    expect(args.slice(-4)).toEqual(['--address', '127.0.0.1:7233', '--disable-config-file', '--disable-config-env']);
    expect(operatorArgs.createNamespace('127.0.0.1:7233', 'default', '7d')).toEqual(
      expect.arrayContaining(['--namespace', 'default', '--retention', '7d']),
    );
  });
});

describe('the cluster tools', () => {
  it('pin the server at docker-compose.yml version and stay out of what scripts/setup builds', () => {
    expect(CLUSTER_TOOLS['temporal-server'].version).toBe('1.29.1');
    expect(CLUSTER_TOOLS['temporal-sql-tool']).toMatchObject({
      module: 'go.temporal.io/server',
      version: '1.29.1',
      moduleFiles: ['schema/postgresql/v12'],
    });
    expect(CLUSTER_TOOLS['temporal-ui-server'].version).toBe('2.42.1');
    for (const name of Object.keys(CLUSTER_TOOLS)) {
      expect(Object.keys(TOOLS)).not.toContain(name);
      expect(toolsToBuild({})).not.toContain(name);
    }
    expect(() => toolsToBuild({ tools: 'temporal-server' })).toThrow(/unknown temporal-server/);
  });
});
