// `kiln cluster`'s Temporal side (setup/cluster.ts): the server, its SQL tool and the Web UI server
// built once from their modules, the schema applied (and upgraded) by temporal-sql-tool, and the
// namespace and kiln's search attributes registered through the operator commands.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import type { KilnConfig } from '../config/config.js';
import { CLUSTER_TOOLS, cachedToolPath, resolveTool, type ClusterToolName } from '../adapters/toolchain.js';
import { operatorArgs } from '../adapters/temporal-cli.js';
import { failure } from '../domain/failures.js';
import { KILN_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { NAMESPACE_RETENTION, schemaCommands, type ClusterLayout } from './cluster-config.js';
import { password } from './cluster-postgres.js';
import { logFile, sleep, tail, type Log } from './cluster-processes.js';
import { installTool } from './setup.js';

export async function buildTools(config: KilnConfig, log: Log): Promise<Record<ClusterToolName, string>> {
  const names = Object.keys(CLUSTER_TOOLS) as ClusterToolName[];
  const missing = names.filter((n) => !existsSync(cachedToolPath(CLUSTER_TOOLS[n], config.tools.dir)));
  if (missing.length) log(`    building ${missing.join(', ')} once (cached in ${config.tools.dir}; minutes)`);
  for (const name of missing) await installTool(CLUSTER_TOOLS[name], config.tools.dir);
  return Object.fromEntries(names.map((n) => [n, resolveTool(n, config.tools)])) as Record<ClusterToolName, string>;
}

export async function applySchema(
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

export async function registerNamespace(
  layout: ClusterLayout,
  temporal: string,
  env: Record<string, string>,
  log: Log,
) {
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
