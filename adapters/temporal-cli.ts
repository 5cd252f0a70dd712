// The Temporal CLI adapter: every `temporal` command line kiln runs is built here. Today that is the
// embedded dev server (`temporal server start-dev`), started detached by setup/services.ts, which
// passes kiln's search attributes from their one definition in workflows/search-attributes.ts.
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
