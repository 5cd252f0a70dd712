// Benchmark: kiln's catalog reading at distribution size. Generates a catalog of N melange configs
// with the features kiln reads (bench/generate-catalog.ts `features`) and a few hundred apko images,
// then times, in one run: the baselines (every file parsed by the `yaml` package only, and as the
// loader used to read them: `yaml` parse plus a line index per file), js-yaml's parse, loadCatalog
// (what `kiln validate` does), planBuild (`kiln plan`), the snapshot activity, and the CLI commands
// end to end (npm, node and tsx start-up included). Prints seconds and seconds per 1,000 configs.
//   npm run bench:catalog -- [--count 3500] [--depth 20] [--images 300] [--keep]
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { snapshotCatalog } from '../activities/snapshot.js';
import { configWith } from '../config/config.js';
import { parseYaml, yamlLocator } from '../domain/catalog-rules.js';
import { planBuild } from '../domain/plan.js';
import { loadCatalog } from '../io/catalog-loader.js';
import { loadYamlData } from '../io/fast-yaml.js';
import { generateCatalog } from './generate-catalog.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '3500' },
    depth: { type: 'string', default: '20' },
    images: { type: 'string', default: '300' },
    keep: { type: 'boolean' },
  },
});
const count = Number(values.count);
const work = await mkdtemp(join(tmpdir(), 'kiln-bench-catalog-'));
const state = join(work, 'state');
const dir = join(work, 'catalog');
// The generated catalog's repository exists and provides nothing: every dependency is in the catalog.
await mkdir(join(state, 'bootstrap'), { recursive: true });
await generateCatalog(dir, { count, depth: Number(values.depth), features: true, images: Number(values.images) });
// No registry here: snapshots are not stored for other workers (KILN_ARTIFACTS=none).
const config = configWith({ KILN_STATE: state, KILN_CATALOG: dir, KILN_ARTIFACTS: 'none' });

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rows: [string, number][] = [];
async function time<T>(label: string, f: () => Promise<T> | T, runs = 1): Promise<T> {
  let best = Infinity;
  let out: T;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    out = await f();
    best = Math.min(best, performance.now() - t);
  }
  rows.push([label, best]);
  console.log(
    `${label.padEnd(54)} ${seconds(best).padStart(8)}  ${seconds((best * 1000) / count).padStart(8)} / 1,000`,
  );
  return out!;
}

const files: string[] = [];
for (const sub of ['packages', ...(await readdir(join(dir, 'images'))).map((i) => `images/${i}`), 'apko'])
  for (const f of await readdir(join(dir, sub))) files.push(await readFile(join(dir, sub, f), 'utf8'));
console.log(
  `bench:catalog: ${count} melange configs, ${values.images} apko images (${files.length} YAML files), ` +
    `${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version} (work dir ${work})`,
);
const yamlOnly = await time('baseline: `yaml` parseDocument of every file', () => files.map((t) => parseDocument(t)));
const before = await time('baseline: previous reading (`yaml` parse + line index)', () =>
  files.map((t) => [parseYaml('f.yaml', t, []), yamlLocator(t)]),
);
await time('js-yaml parse of every file (core schema)', () => files.map(loadYamlData));
const catalog = await time('loadCatalog, first run (kiln validate)', () =>
  loadCatalog(dir, { env: config.catalogEnv }),
);
const warm = await time('loadCatalog, best of 3', () => loadCatalog(dir, { env: config.catalogEnv }), 3);
await time('planBuild, best of 3 (kiln plan)', () => planBuild(warm), 3);
await time('snapshot activity (digest, copy, validate, plan, record)', () =>
  snapshotCatalog(config, { catalogDir: dir }),
);
const env = { ...process.env, KILN_STATE: state };
// The command the README documents (package.json runs `node --import tsx cli/kiln.ts`: no tsx child process).
const cli = (args: string[]) => execa('npm', ['run', '-s', 'kiln', '--', ...args], { env });
await time('CLI start-up only: npm run kiln -- --help', () => cli(['--help']));
const validated = await time('CLI: npm run kiln -- validate --catalog DIR', () => cli(['validate', '--catalog', dir]));
await time('CLI: npm run kiln -- plan --catalog DIR', () => cli(['plan', '--catalog', dir]));
console.log(`validate said: ${validated.stdout.trim().split('\n').pop()}`);
const load = rows.find(([l]) => l.startsWith('loadCatalog, first'))![1];
console.log(
  `loadCatalog (first run) is ${(yamlOnly.length && rows[0]![1] / load).toFixed(1)}× faster than the \`yaml\` parse alone ` +
    `and ${(rows[1]![1] / load).toFixed(1)}× faster than the previous reading alone; ` +
    `${catalog.packages.length} packages, ${catalog.images.length} images, ${before.length} files`,
);
if (!values.keep) await rm(work, { recursive: true, force: true });
