// Benchmark: the package phase of kiln against a `make -jN` baseline that drives melange directly,
// on the same generated catalog, in the same dependency order and with the same parallelism.
// Prints both wall times, kiln's ratio to the baseline and the orchestration overhead per package.
//   npm run bench -- [--count 300] [--depth 10] [--jobs 2] [--keep]   (--keep leaves the work directory)
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { resolveTool } from '../adapters/toolchain.js';
import { generateCatalog } from './generate-catalog.js';
import { embeddedConfig, startEmbedded } from './embedded.js';

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
const config = await embeddedConfig(work, jobs);
const state = config.paths.state;
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
const t = Date.now();
await execa('make', ['-j', String(jobs), '-f', join(work, 'Makefile'), 'all'], { stdio: 'inherit' });
const makeMs = Date.now() - t;
console.log(`make -j${jobs}: ${(makeMs / 1000).toFixed(1)}s`);

// kiln: the real thing, embedded Temporal on other ports, on the same catalog (no images: the
// baseline has no image phase).
const kiln = await startEmbedded(config);
const { summary, ms: kilnPackagesMs } = await kiln.rebuild({ catalogDir: catalog.dir });
const built = summary.packages.filter((p) => p.status === 'built').length;
await kiln.close();

console.log('');
console.log(`packages built        kiln ${built}/${count}, make ${count}/${count}`);
console.log(`make -j${jobs} (baseline)  ${(makeMs / 1000).toFixed(1)}s`);
console.log(`kiln catalogRebuild   ${(kilnPackagesMs / 1000).toFixed(1)}s`);
console.log(`ratio kiln/make       ${(kilnPackagesMs / makeMs).toFixed(2)}x`);
console.log(`overhead per package  ${((kilnPackagesMs - makeMs) / count).toFixed(0)} ms`);
if (!values.keep) await rm(work, { recursive: true, force: true });
if (built !== count) process.exitCode = 1;
