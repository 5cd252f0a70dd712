// The Temporal CLI adapter: every `temporal` command line kiln runs is built here: the embedded dev
// server (`temporal server start-dev`), started detached by setup/services.ts, which passes kiln's
// search attributes from their one definition in workflows/search-attributes.ts; and the operator
// commands `kiln cluster up` registers the namespace and those search attributes with.
import type { SearchAttributeType } from '@temporalio/common';
import type { KilnConfig } from '../config/config.js';
import { resolveTool } from './toolchain.js';

/** The CLI's spelling of each search attribute type (`--search-attribute Name=Keyword`). */
const CLI_TYPE: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

export interface SearchAttributeDefinition {
  name: string;
  type: SearchAttributeType;
}

/** `--search-attribute Name=Type` for each key. */
export function searchAttributeArgs(keys: readonly SearchAttributeDefinition[]): string[] {
  return keys.flatMap((k) => ['--search-attribute', `${k.name}=${CLI_TYPE[k.type]}`]);
}

export interface DevServerOptions {
  /** SQLite file: runs survive a restart. */
  dbFile: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** Registered at start, so workflows can set them from their first run. */
  searchAttributes: readonly SearchAttributeDefinition[];
}

/** The dev server's command line: loopback only, warnings only in its log, kiln's search attributes. */
export function devServerCommand(config: KilnConfig, o: DevServerOptions): { command: string; args: string[] } {
  return {
    command: resolveTool('temporal', config.tools),
    args: [
      'server',
      'start-dev',
      '--db-filename',
      o.dbFile,
      '--ip',
      '127.0.0.1',
      '--port',
      String(o.port),
      '--ui-port',
      String(o.uiPort),
      '--namespace',
      o.namespace,
      '--log-level',
      'warn',
      ...searchAttributeArgs(o.searchAttributes),
    ],
  };
}

/**
 * Where operator commands go: the cluster's loopback frontend, and nothing from a person's Temporal
 * profile or TEMPORAL_* variables (their TLS or API key would not fit kiln's plain loopback cluster).
 */
const clusterTarget = (address: string): string[] => [
  '--address',
  address,
  '--disable-config-file',
  '--disable-config-env',
];

/** `temporal operator ...` against a cluster kiln runs (setup/cluster.ts): health, namespace, search attributes. */
export const operatorArgs = {
  health: (address: string): string[] => ['operator', 'cluster', 'health', ...clusterTarget(address)],
  describeNamespace: (address: string, namespace: string): string[] => [
    'operator',
    'namespace',
    'describe',
    '--namespace',
    namespace,
    '--output',
    'json',
    ...clusterTarget(address),
  ],
  createNamespace: (address: string, namespace: string, retention: string): string[] => [
    'operator',
    'namespace',
    'create',
    '--namespace',
    namespace,
    '--retention',
    retention,
    ...clusterTarget(address),
  ],
  listSearchAttributes: (address: string, namespace: string): string[] => [
    'operator',
    'search-attribute',
    'list',
    '--namespace',
    namespace,
    '--output',
    'json',
    ...clusterTarget(address),
  ],
  /** One call for all of them: `--name A --type Keyword --name B --type Keyword`. */
  createSearchAttributes: (
    address: string,
    namespace: string,
    keys: readonly SearchAttributeDefinition[],
  ): string[] => [
    'operator',
    'search-attribute',
    'create',
    '--namespace',
    namespace,
    ...keys.flatMap((k) => ['--name', k.name, '--type', CLI_TYPE[k.type]]),
    ...clusterTarget(address),
  ],
};
