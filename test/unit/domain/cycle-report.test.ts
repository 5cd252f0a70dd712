// Cycles that no older build breaks are reported once per knot (cycles sharing a package), not once
// per cycle: a distribution's core has thousands of cycles without its published repository.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CatalogInvalid, loadCatalog } from '../../../io/catalog-loader.js';
import { apkIndexFixture, bootstrapStateFixture } from '../../fixtures/apkindex-fixture.js';

const melange = (name: string, build: string[]) => `package:
  name: ${name}
  version: 1.0.0
  epoch: 0
  description: ${name}
  copyright:
    - license: Apache-2.0
environment:
  contents:
    packages: [${['busybox', ...build].join(', ')}]
pipeline:
  - runs: mkdir -p "\${{targets.destdir}}/usr/share/${name}"
`;

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A bootstrap state and an empty catalog (packages/ to fill) that builds against it. */
async function scratchCatalog(): Promise<{ state: string; dir: string }> {
  const state = await bootstrapStateFixture();
  const dir = await mkdtemp(join(tmpdir(), 'kiln-cycles-'));
  dirs.push(state, dir);
  await mkdir(join(dir, 'packages'));
  await writeFile(
    join(dir, 'catalog.yaml'),
    `archs: [x86_64]\nrepositories: ["\${KILN_STATE}/bootstrap"]\nkeyring: ["\${KILN_STATE}/keys/kiln.rsa.pub"]\npackageRepository: "\${KILN_STATE}/repo"\nregistry: "127.0.0.1:5000/kiln"\n`,
  );
  return { state, dir };
}

describe('dependency cycles no older build breaks', () => {
  it('are one problem per knot of cycles sharing a package, naming every member', async () => {
    const { state, dir } = await scratchCatalog();
    // One knot: a <-> b and b <-> c share b. A separate cycle: x <-> y.
    const graph: Record<string, string[]> = { a: ['b'], b: ['a', 'c'], c: ['b'], x: ['y'], y: ['x'] };
    for (const [name, deps] of Object.entries(graph))
      await writeFile(join(dir, 'packages', `${name}.yaml`), melange(name, deps));
    const err = await loadCatalog(dir, { env: { KILN_STATE: state } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogInvalid);
    const cycles = (err as CatalogInvalid).problems.filter((p) => p.message.startsWith('dependency cycle'));
    expect(cycles).toHaveLength(2);
    expect(cycles[0]!.message).toMatch(/and 1 more cycles among 3 packages: a, b, c/);
    // b lies on both cycles: its older build alone bootstraps the knot.
    expect(cycles[0]!.fix).toMatch(/^publish older builds of b \(together they lie on every cycle/);
    expect(cycles[1]!.message).toMatch(/^dependency cycle: x -> y -> x \(/);
  });

  it('are broken by an older build in the package repository kiln publishes to', async () => {
    const { state, dir } = await scratchCatalog();
    // compiler builds against itself and against runtime, which builds against compiler.
    await writeFile(join(dir, 'packages', 'compiler.yaml'), melange('compiler', ['compiler', 'runtime']));
    await writeFile(join(dir, 'packages', 'runtime.yaml'), melange('runtime', ['compiler']));
    const before = await loadCatalog(dir, { env: { KILN_STATE: state } }).catch((e: unknown) => e);
    expect((before as CatalogInvalid).problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^dependency cycle: compiler -> compiler/),
      expect.stringMatching(/^dependency cycle: compiler -> runtime -> compiler/),
    ]);
    // An earlier run published compiler: its build stands in for both edges into compiler.
    await mkdir(join(state, 'repo', 'x86_64'), { recursive: true });
    await writeFile(
      join(state, 'repo', 'x86_64', 'APKINDEX.tar.gz'),
      apkIndexFixture([{ P: 'compiler', V: '0.9-r0', o: 'compiler' }]),
    );
    const catalog = await loadCatalog(dir, { env: { KILN_STATE: state } });
    expect(catalog.packages.find((p) => p.name === 'runtime')!.bootstrapFrom).toEqual(['compiler']);
  });
});
