// Benchmark: the package phase of kiln against a `make -jN` baseline that drives melange directly,
// on the same generated catalog, in the same dependency order and with the same parallelism.
// Prints both wall times, kiln's ratio to the baseline and the orchestration overhead per package.
//   npm run bench -- [--count 300] [--depth 10] [--jobs 2] [--keep]   (--keep leaves the work directory)
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { configWith } from '../config/config.js';
import { resolveTool } from '../adapters/toolchain.js';
import { connectClient, connectWorkerConnection } from '../client/connection.js';
import { catalogRebuild } from '../workflows/catalog-rebuild.js';
import { createKilnWorker } from '../workers/worker.js';
import { generateCatalog } from './generate-catalog.js';
import { bootstrapRepository } from '../setup/bootstrap-repo.js';
import { ensureKeys } from '../setup/keys.js';
import { servicesDown, servicesUp } from '../setup/services.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '60' },
    depth: { type: 'string', default: '10' },
    jobs: { type: 'string', default: '2' },
    keep: { type: 'boolean' },
  },
});
const count = Number(values.count);
const depth = Number(values.depth);
const jobs = Number(values.jobs);

const work = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
const state = join(work, 'state');
// Its own state and services on other ports, so a running `kiln dev` is left alone.
const config = configWith({
  KILN_STATE: state,
  TEMPORAL_ADDRESS: '127.0.0.1:17233',
  TEMPORAL_NAMESPACE: 'default',
  KILN_WEB_UI: 'http://127.0.0.1:18233',
  KILN_REGISTRY: '127.0.0.1:15000',
  KILN_TASK_QUEUE: 'bench',
  KILN_MAX_ACTIVITIES: String(jobs),
});
Runtime.install({ logger: new DefaultLogger('WARN') });
ensureKeys(state, () => undefined);
await bootstrapRepository({ config, stateDir: state, arch: 'x86_64', log: () => undefined });
const catalog = await generateCatalog(join(work, 'catalog'), { count, depth, concurrency: jobs, image: false });
const paths = config.paths;
console.log(`bench: ${count} packages in ${depth} layers, ${jobs} at a time (work dir ${work})`);

// Baseline: one make target per package; melange builds into a shared repository and the index is
// regenerated under flock, as a hand-written pipeline would do.
const melange = resolveTool('melange', config.tools);
const repo = join(work, 'make-repo');
await mkdir(join(repo, 'x86_64'), { recursive: true });
const flags = [
  '--runner',
  'bubblewrap',
  '--arch',
  'x86_64',
  '--generate-index=false',
  '--signing-key',
  paths.packageSigningKey,
  '-r',
  repo,
  '-r',
  join(state, 'bootstrap'),
  '-k',
  paths.packageSigningPub,
  '--namespace',
  'kiln',
].join(' ');
const makefile = [
  `all: ${catalog.packages.map((p) => p.name).join(' ')}`,
  ...catalog.packages.map((p) =>
    [
      `${p.name}: ${p.dependsOn.join(' ')}`,
      `\tmkdir -p ${work}/make-ws/${p.name} ${work}/make-out/${p.name}`,
      `\t${melange} build ${catalog.dir}/packages/${p.name}.yaml ${flags} --workspace-dir ${work}/make-ws/${p.name} --source-dir ${work}/make-ws/${p.name} --out-dir ${work}/make-out/${p.name} > ${work}/make-out/${p.name}.log 2>&1`,
      `\tcp ${work}/make-out/${p.name}/x86_64/*.apk ${repo}/x86_64/`,
      `\tflock ${repo}/.lock sh -c '${melange} index -o ${repo}/x86_64/APKINDEX.tmp.tar.gz -a x86_64 --signing-key ${paths.packageSigningKey} ${repo}/x86_64/*.apk >/dev/null 2>&1 && mv ${repo}/x86_64/APKINDEX.tmp.tar.gz ${repo}/x86_64/APKINDEX.tar.gz'`,
    ].join('\n'),
  ),
  '.PHONY: all ' + catalog.packages.map((p) => p.name).join(' '),
  '',
].join('\n');
await writeFile(join(work, 'Makefile'), makefile);
let t = Date.now();
await execa('make', ['-j', String(jobs), '-f', join(work, 'Makefile'), 'all'], { stdio: 'inherit' });
const makeMs = Date.now() - t;
console.log(`make -j${jobs}: ${(makeMs / 1000).toFixed(1)}s`);

// kiln: the real thing, embedded Temporal on other ports, on the same catalog (no images: the
// baseline has no image phase).
await servicesUp(config, () => undefined);
const nativeConnection = await connectWorkerConnection(config);
const { client, close } = await connectClient(config);
const worker = await createKilnWorker({ config, connection: nativeConnection });
const { taskQueue } = config.temporal;
t = Date.now();
const summary = await worker.runUntil(
  client.workflow.execute(catalogRebuild, {
    taskQueue,
    workflowId: `bench-${Date.now()}`,
    args: [{ catalogDir: catalog.dir }],
  }),
);
const kilnMs = Date.now() - t;
const kilnPackagesMs = kilnMs;
const built = summary.packages.filter((p) => p.status === 'built').length;
await close();
await nativeConnection.close();
await servicesDown(config, () => undefined);

console.log('');
console.log(`packages built        kiln ${built}/${count}, make ${count}/${count}`);
console.log(`make -j${jobs} (baseline)  ${(makeMs / 1000).toFixed(1)}s`);
console.log(`kiln catalogRebuild   ${(kilnPackagesMs / 1000).toFixed(1)}s`);
console.log(`ratio kiln/make       ${(kilnPackagesMs / makeMs).toFixed(2)}x`);
console.log(`overhead per package  ${((kilnPackagesMs - makeMs) / count).toFixed(0)} ms`);
if (!values.keep) await rm(work, { recursive: true, force: true });
if (built !== count) process.exitCode = 1;
