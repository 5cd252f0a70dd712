// Benchmark: a night where nothing changed, for the image phase. Publishes N small images once, then
// times a second run with nothing changed (each image recognised from its verified provenance) against
// a run with `force` (the same unchanged images taken through the whole pipeline: assemble, test,
// compare, scan, push, sign, attest, verify, tag): the baseline, in the same run, on the same machine.
//   npm run bench:images -- [--images 20] [--keep]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCatalog } from './generate-catalog.js';
import { embeddedConfig, startEmbedded } from './embedded.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '20' }, keep: { type: 'boolean' } } });
const count = Number(values.images);
const work = await mkdtemp(join(tmpdir(), 'kiln-bench-images-'));
const config = await embeddedConfig(work, 2);
// Two packages, then `count` images: busybox and one of the packages, each with its own environment.
const catalog = await generateCatalog(join(work, 'catalog'), { count: 2, depth: 1, image: false });
for (let i = 0; i < count; i++) {
  const name = `img-${String(i).padStart(3, '0')}`;
  await mkdir(join(catalog.dir, 'images', name), { recursive: true });
  await writeFile(
    join(catalog.dir, 'images', name, 'apko.yaml'),
    `contents:\n  packages: [busybox, ${catalog.packages[i % 2]!.name}]\nentrypoint:\n  command: /bin/sh\n` +
      `environment:\n  IMAGE: "${name}"\narchs: [x86_64]\n`,
  );
}
console.log(`bench:images: ${count} images, ${cpus().length} × ${cpus()[0]?.model ?? '?'} (work dir ${work})`);

const kiln = await startEmbedded(config);
const input = { catalogDir: catalog.dir };
const first = await kiln.rebuild(input);
const noop = await kiln.rebuild(input);
const forced = await kiln.rebuild({ ...input, force: true });
await kiln.close();

const statuses = (s: typeof first.summary) =>
  [...new Set(s.images.map((i) => `${i.status}${i.inputsUnchanged ? ' (inputs unchanged)' : ''}`))].join(', ');
const row = (label: string, r: typeof first) =>
  console.log(
    `${label.padEnd(44)} ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${(r.ms / count).toFixed(0).padStart(5)} ms/image  ${statuses(r.summary)}`,
  );
row('first run (publish every image)', first);
row('nothing changed (recognised from provenance)', noop);
row('nothing changed, force (whole pipeline)', forced);
console.log(`no-op night / whole pipeline: ${(noop.ms / forced.ms).toFixed(2)}×`);
if (!values.keep) await rm(work, { recursive: true, force: true });
if (![first, noop, forced].every((r) => r.summary.ok)) process.exitCode = 1;
