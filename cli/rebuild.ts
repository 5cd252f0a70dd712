// `kiln rebuild [--catalog DIR] [--package NAME]... [--image NAME]... [--force] [--rerun-failed-of ID]`:
// the main job. Brings up the embedded services, runs one catalogRebuild with a worker in this
// process, shows progress, and prints the summary (scripts/rebuild wraps it with setup).
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { formatSummary } from '../domain/summary.js';
import type { RebuildInput } from '../workflows/catalog-rebuild.js';

export interface RebuildOptions {
  catalog?: string;
  package?: string[];
  image?: string[];
  force?: boolean;
  rerunFailedOf?: string;
}

/** The workflow input: only the fields given, so `{}` rebuilds the whole catalog. */
export function rebuildInput(o: RebuildOptions): RebuildInput {
  return {
    ...(o.catalog ? { catalogDir: o.catalog } : {}),
    ...(o.package?.length ? { packages: o.package } : {}),
    ...(o.image?.length ? { images: o.image } : {}),
    ...(o.force ? { force: true } : {}),
    ...(o.rerunFailedOf ? { rerunFailedOf: o.rerunFailedOf } : {}),
  };
}

export async function rebuild(o: RebuildOptions): Promise<number> {
  const config = loadConfig();
  // Loaded here, not at the top: the worker, its activities and Temporal's native runtime are for
  // this command only, so `kiln --help`, validate and plan start quickly.
  const { installRuntime } = await import('../workers/telemetry.js');
  const { connectClient, connectWorkerConnection } = await import('../client/connection.js');
  const { progressChanges, startAndFollowRebuild } = await import('../client/rebuild.js');
  const { servicesUp } = await import('../setup/services.js');
  const { createKilnWorker } = await import('../workers/worker.js');
  const { temporal } = config;
  // A worker on this machine may already serve metrics on KILN_METRICS_ADDRESS: the run goes on without.
  installRuntime(config, 'WARN', { metrics: 'optional' });
  console.log('==> Services');
  await servicesUp(config);
  const nativeConnection = await connectWorkerConnection(config);
  const worker = await createKilnWorker({ config, connection: nativeConnection });
  const { client, close } = await connectClient(config);
  const last = new Map<string, string>();
  const outcome = await worker.runUntil(
    startAndFollowRebuild(client, config, rebuildInput(o), {
      onStart: (workflowId) => {
        console.log(`==> catalogRebuild ${workflowId} (state ${config.paths.state})`);
        console.log(
          `    follow it in the Web UI: ${temporal.webUi}/namespaces/${temporal.namespace}/workflows/${encodeURIComponent(workflowId)}`,
        );
      },
      onProgress: (p) => {
        for (const [item, state] of progressChanges(p, last))
          if (state !== 'waiting') console.log(`    ${item}: ${state}`);
      },
    }),
  );
  await close();
  await nativeConnection.close();
  if (outcome.error !== undefined) {
    console.error(`\ncatalogRebuild failed before building anything:\n${outcome.error}`);
    return 1;
  }
  console.log(`\n${formatSummary(outcome.summary, temporal.webUi)}`);
  return outcome.summary.ok ? 0 : 1;
}

/** Repeatable flags: each occurrence adds one name. */
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description('run one catalogRebuild with a worker in this process, show progress and print the summary')
    .option('--catalog <dir>', 'catalog directory (default: KILN_CATALOG, else catalog/)')
    .option('--package <name>', 'rebuild this package, its reverse dependencies and their images (repeatable)', collect)
    .option('--image <name>', 'rebuild this image and what it needs (repeatable)', collect)
    .option('--force', 'build again and compare byte for byte with the published APKs (the named packages, or all)')
    .option('--rerun-failed-of <workflowId>', 'rebuild only what failed or was blocked in that run')
    .action(async (opts: RebuildOptions) => {
      process.exitCode = await rebuild(opts);
    });
}
