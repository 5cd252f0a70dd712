// The catalog is validated before anything runs: each bad case is rejected with its file, field
// and fix, and every problem of a catalog is reported at once.
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CatalogInvalid, loadCatalog } from '../domain/catalog-loader.js';
import type { CatalogProblem } from '../domain/catalog.js';
import { REPO_ROOT } from '../activities/env.js';
import { useKilnEnv } from './harness.js';

const kilnEnv = useKilnEnv();
const env = { ...process.env, ...kilnEnv };
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');

async function problemsOf(dir: string): Promise<CatalogProblem[]> {
  try {
    await loadCatalog(dir, { env });
  } catch (err) {
    if (err instanceof CatalogInvalid) return err.problems;
    throw err;
  }
  throw new Error(`${dir} validated, but it should not`);
}

describe('loadCatalog on valid catalogs', () => {
  it('loads the example catalog: 4 packages with a 2-deep build chain, 3 images', async () => {
    const catalog = await loadCatalog(join(REPO_ROOT, 'catalog'), { env });
    expect(catalog.packages.map((p) => p.name).sort()).toEqual(['greeting-data', 'hello', 'libgreet', 'motd']);
    expect(catalog.images.map((i) => i.name).sort()).toEqual(['base', 'hello', 'motd']);
    expect(catalog.settings.packageRepository).toBe(join(kilnEnv.KILN_STATE, 'repo'));
    expect(catalog.settings.registry).toBe(`${kilnEnv.KILN_REGISTRY}/kiln`);
  });

  it('reads tags from image.yaml', async () => {
    const catalog = await loadCatalog(join(FIXTURES, 'tiny'), { env });
    expect(catalog.images).toEqual([{ name: 'tiny-app', file: 'images/tiny-app/apko.yaml', packages: ['busybox', 'tiny-app'], tags: ['latest', '0.1'], tests: [], expectations: {} }]);
  });
});

describe('loadCatalog on bad catalogs', () => {
  const cases: [string, { file: string; field: string; message: RegExp }][] = [
    ['malformed-yaml', { file: 'packages/tiny-lib.yaml', field: 'line 4, column 1', message: /malformed YAML/ }],
    ['unknown-key', { file: 'catalog.yaml', field: 'parallelism', message: /unknown key/ }],
    ['bad-name', { file: 'packages/tiny-app.yaml', field: 'package.name', message: /"Tiny_App" is not a valid package name/ }],
    ['path-escape', { file: 'packages/tiny-lib.yaml', field: 'subpackages[0].name', message: /"\.\.\/\.\.\/etc" is not a valid subpackage name.*escape/ }],
    ['duplicate-package', { file: 'packages/tiny-lib2.yaml', field: 'subpackages[0].name', message: /"tiny-lib" is also declared in packages\/tiny-lib\.yaml/ }],
    ['missing-build-dep', { file: 'packages/tiny-app.yaml', field: 'environment.contents.packages[2]', message: /"libmissing" is provided by no catalog package and no configured repository/ }],
    ['cycle', { file: 'packages/cyc-a.yaml', field: 'environment.contents.packages', message: /dependency cycle: cyc-a -> cyc-b -> cyc-c -> cyc-a/ }],
    ['image-missing-package', { file: 'images/tiny-app/apko.yaml', field: 'contents.packages[2]', message: /"nginx" is provided by no catalog package/ }],
    ['unset-variable', { file: 'catalog.yaml', field: 'registry', message: /KILN_TEST_UNSET_REGISTRY.*not set/ }],
  ];

  it.each(cases)('%s: names the file, the field and a fix', async (name, expected) => {
    const problems = await problemsOf(join(FIXTURES, 'bad', name));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: expected.file, field: expected.field });
    expect(problems[0]!.message).toMatch(expected.message);
    expect(problems[0]!.fix.length).toBeGreaterThan(10);
  });

  it('missing-required: reports both missing keys', async () => {
    const problems = await problemsOf(join(FIXTURES, 'bad', 'missing-required'));
    expect(problems.map((p) => `${p.file}: ${p.field}: ${p.message}`)).toEqual([
      'catalog.yaml: registry: missing required key',
      'packages/tiny-lib.yaml: package.version: missing required key',
    ]);
  });

  it('reports every problem of a catalog at once, in its message too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-many-'));
    await cp(join(FIXTURES, 'tiny'), dir, { recursive: true });
    await writeFile(join(dir, 'images', 'tiny-app', 'image.yaml'), 'tags: ["-bad tag"]\nmirrors: []\n');
    await writeFile(join(dir, 'packages', 'tiny-lib.yaml'), 'package:\n  name: tiny-lib\n  version: "1.0-r1"\n  epoch: -1\nenvironment:\n  contents:\n    packages: [busybox]\n');
    const err = await loadCatalog(dir, { env }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogInvalid);
    const fields = (err as CatalogInvalid).problems.map((p) => `${p.file}: ${p.field}`);
    expect(fields).toEqual([
      'packages/tiny-lib.yaml: package.version',
      'packages/tiny-lib.yaml: package.epoch',
      'images/tiny-app/image.yaml: mirrors',
      'images/tiny-app/image.yaml: tags[0]',
    ]);
    for (const f of fields) expect((err as Error).message).toContain(f);
  });

  it('says once that a configured repository is missing, instead of blaming every dependency', async () => {
    const problems = await problemsOf(join(FIXTURES, 'tiny')).catch(() => []);
    expect(problems).toEqual([]); // sanity: tiny is valid with the bootstrap repository present
    const noRepo = await loadCatalog(join(FIXTURES, 'tiny'), { env: { ...env, KILN_STATE: '/nonexistent/kiln-state' } }).catch((e: unknown) => e);
    expect((noRepo as CatalogInvalid).problems.map((p) => `${p.file}: ${p.field}`)).toEqual(['catalog.yaml: repositories[0]']);
    expect((noRepo as CatalogInvalid).problems[0]!.fix).toMatch(/scripts\/setup/);
  });
});
