// A catalog of distribution size: from 400 package files on, a worker thread reads and parses the
// last part of them (io/fast-yaml.mjs parseOnWorker). What the loader makes of a file must not
// depend on which thread parsed it: the same specs, the same problems with their lines.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogInvalid, loadCatalog } from '../../../io/catalog-loader.js';
import { loadYamlData, parseOnWorker } from '../../../io/fast-yaml.mjs';
import { bootstrapStateFixture } from '../../fixtures/apkindex-fixture.js';
import { FIXTURES } from '../../fixtures/paths.js';

const COUNT = 450;
const name = (i: number) => `gen-${String(i).padStart(3, '0')}`;
/** A package needing the one before it; version 1.10 + i/10 keeps its text only if read as melange reads it. */
const config = (i: number) =>
  [
    `package: { name: ${name(i)}, version: 1.${i}0, epoch: 0 }`,
    `environment: { contents: { packages: [busybox${i ? `, ${name(i - 1)}` : ''}] } }`,
    'pipeline: [{ runs: "true" }]',
    '',
  ].join('\n');

let state: string;
let dir: string;
beforeAll(async () => {
  state = await bootstrapStateFixture();
  dir = await mkdtemp(join(tmpdir(), 'kiln-large-'));
  await cp(join(FIXTURES, 'tiny', 'catalog.yaml'), join(dir, 'catalog.yaml'));
  await mkdir(join(dir, 'packages'));
  for (let i = 0; i < COUNT; i++) await writeFile(join(dir, 'packages', `${name(i)}.yaml`), config(i));
});
afterAll(async () => {
  for (const d of [state, dir]) await rm(d, { recursive: true, force: true });
});

describe('parseOnWorker', () => {
  it('answers every file in order with its text and the data loadYamlData reads', async () => {
    const files = [0, 1, 449].map((i) => `packages/${name(i)}.yaml`);
    const read = await parseOnWorker(dir, files);
    expect(read.map((r) => r.text)).toEqual([0, 1, 449].map(config));
    expect(read.map((r) => r.data)).toEqual(read.map((r) => loadYamlData(r.text)));
  });

  it('fails (the loader then reads the files itself) when a file cannot be read', async () => {
    await expect(parseOnWorker(dir, ['packages/none.yaml'])).rejects.toThrow(/none\.yaml/);
  });
});

describe('a catalog of 450 package files', () => {
  it('loads every package alike, on either thread: versions keep their text, edges their order', async () => {
    const catalog = await loadCatalog(dir, { env: { KILN_STATE: state } });
    expect(catalog.packages).toHaveLength(COUNT);
    for (const i of [0, 100, 300, 449]) {
      const spec = catalog.packages.find((p) => p.name === name(i))!;
      expect(spec.version).toBe(`1.${i}0`);
      expect(spec.buildDependencies).toEqual(i ? ['busybox', name(i - 1)] : ['busybox']);
    }
  });

  it('reports a syntax error in a file the worker parsed with its file and line, as yaml finds it', async () => {
    const broken = join(dir, 'packages', `${name(440)}.yaml`);
    await writeFile(broken, config(440).replace('pipeline: [{ runs: "true" }]', 'pipeline: [{ runs: "true" }'));
    const err = await loadCatalog(dir, { env: { KILN_STATE: state } }).catch((e: unknown) => e);
    await writeFile(broken, config(440));
    expect(err).toBeInstanceOf(CatalogInvalid);
    const problems = (err as CatalogInvalid).problems.filter((p) => p.file === `packages/${name(440)}.yaml`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      field: expect.stringMatching(/^line \d+, column \d+$/) as string,
      message: expect.stringMatching(/^malformed YAML/) as string,
    });
  });
});
