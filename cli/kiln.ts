// The kiln command line: `npm run kiln -- <command>`.
//   dev up|down|status        embedded Temporal dev server + registry on 127.0.0.1
//   schedule apply|pause|unpause|trigger|describe [--catalog DIR]
//                             the nightly Temporal Schedule from catalog.yaml's `schedule:`
//   validate [--catalog DIR]  check a catalog; every problem with file, field and fix
//   plan [--catalog DIR]      package build order by level, and what each image needs
//   rebuild [--catalog DIR] [--package NAME]... [--image NAME]... [--force] [--rerun-failed-of ID]
//                             run one catalogRebuild with a worker in this process and print
//                             the summary (the main job; scripts/rebuild wraps it with setup)
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadCatalogOrReport } from './catalog-report.js';
import { planBuild } from '../domain/plan.js';
import { formatSummary, type RebuildSummary } from '../domain/summary.js';
import { kilnPaths, temporalTarget } from '../config/config.js';
import { defaultCatalogDir } from '../activities/snapshot.js';
import { catalogRebuild, progressQuery, type RebuildProgress } from '../workflows/catalog-rebuild.js';
import { createKilnWorker } from '../workers/worker.js';
import { servicesDown, servicesStatus, servicesUp } from '../setup/services.js';
import { scheduleCommand } from './schedule.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    catalog: { type: 'string' },
    force: { type: 'boolean' },
    package: { type: 'string', multiple: true },
    image: { type: 'string', multiple: true },
    'rerun-failed-of': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const [command, sub] = positionals;

async function validate(): Promise<number> {
  const dir = values.catalog ?? defaultCatalogDir();
  const catalog = await loadCatalogOrReport(dir);
  if (!catalog) return 1;
  console.log(`${dir}: valid (${catalog.packages.length} packages, ${catalog.images.length} images)`);
  return 0;
}

async function plan(): Promise<number> {
  const catalog = await loadCatalogOrReport(values.catalog ?? defaultCatalogDir());
  if (!catalog) return 1;
  const p = planBuild(catalog);
  const deps = new Map(p.packages.map((x) => [x.name, x.dependsOn]));
  console.log(`Packages (${p.packages.length}), built level by level; a level's packages run in parallel:`);
  p.levels.forEach((level, i) => {
    console.log(`  level ${i}: ${level.map((n) => (deps.get(n)!.length ? `${n} (after ${deps.get(n)!.join(', ')})` : n)).join(', ')}`);
  });
  console.log(`Images (${p.images.length}):`);
  for (const img of p.images) console.log(`  ${img.name} [${img.tags.join(', ')}]: ${img.packages.length ? img.packages.join(', ') : '(repository packages only)'}`);
  return 0;
}

async function dev(): Promise<number> {
  switch (sub) {
    case 'up':
      await servicesUp();
      return 0;
    case 'down':
      await servicesDown();
      return 0;
    case 'status':
      for (const s of await servicesStatus()) console.log(`  ${s.name.padEnd(9)} ${s.state.padEnd(8)} ${s.url}${s.pid ? ` (pid ${s.pid})` : ''}`);
      return 0;
    default:
      console.error('usage: kiln dev up|down|status');
      return 2;
  }
}

function printProgress(p: RebuildProgress, last: Map<string, string>): void {
  for (const [item, state] of Object.entries(p.items)) {
    if (last.get(item) === state) continue;
    last.set(item, state);
    if (state !== 'waiting') console.log(`    ${item}: ${state}`);
  }
}

async function rebuild(): Promise<number> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const target = temporalTarget();
  console.log('==> Services');
  await servicesUp();
  const nativeConnection = await NativeConnection.connect({ address: target.address });
  const worker = await createKilnWorker({ connection: nativeConnection, namespace: target.namespace, taskQueue: target.taskQueue });
  const connection = await Connection.connect({ address: target.address });
  const client = new Client({ connection, namespace: target.namespace });
  const workflowId = `catalog-rebuild-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const input = {
    ...(values.catalog ? { catalogDir: values.catalog } : {}),
    ...(values.package ? { packages: values.package } : {}),
    ...(values.image ? { images: values.image } : {}),
    ...(values.force ? { force: true } : {}),
    ...(values['rerun-failed-of'] ? { rerunFailedOf: values['rerun-failed-of'] } : {}),
  };
  let summary: RebuildSummary | undefined;
  let failure: unknown;
  await worker.runUntil(async () => {
    const handle = await client.workflow.start(catalogRebuild, { workflowId, taskQueue: target.taskQueue, args: [input] });
    console.log(`==> catalogRebuild ${workflowId} (state ${kilnPaths().state})`);
    console.log(`    follow it in the Web UI: ${target.webUi}/namespaces/${target.namespace}/workflows/${encodeURIComponent(workflowId)}`);
    const last = new Map<string, string>();
    const ticker = setInterval(() => {
      handle.query(progressQuery).then((p) => printProgress(p, last), () => undefined);
    }, 2_000);
    try {
      summary = await handle.result();
    } catch (err) {
      failure = err;
    } finally {
      clearInterval(ticker);
    }
  });
  await connection.close();
  await nativeConnection.close();
  if (failure) {
    const cause = failure instanceof WorkflowFailedError ? (failure.cause?.message ?? failure.message) : String(failure);
    console.error(`\ncatalogRebuild failed before building anything:\n${cause}`);
    return 1;
  }
  console.log(`\n${formatSummary(summary!, target.webUi)}`);
  return summary!.ok ? 0 : 1;
}

const schedule = () => scheduleCommand(sub, { catalog: values.catalog });

const commands: Record<string, () => Promise<number>> = { validate, plan, dev, rebuild, schedule };
const run = command ? commands[command] : undefined;
if (!run || values.help) {
  console.error('usage: npm run kiln -- dev up|down|status | validate [--catalog DIR] | plan [--catalog DIR]\n' +
    '       | schedule apply|pause|unpause|trigger|describe [--catalog DIR]\n' +
    '       | rebuild [--catalog DIR] [--package NAME]... [--image NAME]... [--force] [--rerun-failed-of WORKFLOW_ID]');
  process.exit(values.help ? 0 : 2);
}
process.exitCode = await run();
