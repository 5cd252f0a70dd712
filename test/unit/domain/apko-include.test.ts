// apko `include:` and apko's image options. An include of a file inside the catalog is merged the
// way apko merges it and the merged config validated; the included file is held to the trust rules
// under its own name; an include by URL, absolute path, `..` or a symlink out of the catalog is
// rejected with file, field and fix. archs, annotations, paths, volumes and layering are accepted
// as apko accepts them.
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CatalogInvalid, loadCatalog } from '../../../io/catalog-loader.js';
import type { CatalogProblem } from '../../../domain/catalog.js';
import { checkApkoOptions, mergeApkoInclude } from '../../../domain/image-rules.js';
import { includeTarget } from '../../../domain/catalog-trust.js';
import { FileCheck } from '../../../domain/catalog-rules.js';
import { planBuild } from '../../../domain/plan.js';
import { useScratchCatalogs } from '../../fixtures/scratch-catalogs.js';
import { FIXTURES } from '../../fixtures/paths.js';

const catalogs = useScratchCatalogs('kiln-include-');
const fixtureCopy = () => catalogs.copy('apko-include', 'catalog');

const load = (dir: string) => loadCatalog(dir, { env: { KILN_STATE: catalogs.state } });
async function problemsOf(dir: string): Promise<CatalogProblem[]> {
  const err = await load(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof CatalogInvalid)) throw err ?? new Error(`${dir} validated, but it should not`);
  return err.problems;
}
const where = (p: CatalogProblem) => `${p.file}:${p.line ?? '?'}: ${p.field}`;
const setInclude = async (dir: string, include: string) => {
  const file = join(dir, 'images', 'inc-app', 'apko.yaml');
  await writeFile(file, (await readFile(file, 'utf8')).replace('include: apko/base.yaml', `include: ${include}`));
};

describe('apko include', () => {
  it('resolves an include inside the catalog: the image installs the base packages and its own', async () => {
    const catalog = await load(join(FIXTURES, 'apko-include'));
    expect(catalog.images).toHaveLength(1);
    expect(catalog.images[0]).toMatchObject({
      name: 'inc-app',
      file: 'images/inc-app/apko.yaml',
      packages: ['busybox', 'inc-tool'],
      tags: ['latest', '2'],
    });
    expect(planBuild(catalog).images).toEqual([{ name: 'inc-app', packages: ['inc-tool'], tags: ['latest', '2'] }]);
  });

  it('without the include, the override alone does not validate (the base supplies what it needs)', async () => {
    const dir = await fixtureCopy();
    const file = join(dir, 'images', 'inc-app', 'apko.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace('include: apko/base.yaml\n', '').replace('  packages: [inc-tool]\n', ''),
    );
    expect((await problemsOf(dir)).map((p) => `${p.field}: ${p.message}`)).toEqual(['contents: missing required key']);
  });

  it('rejects a repository, key or base image inside the included file, naming that file and line', async () => {
    const dir = await fixtureCopy();
    const base = join(dir, 'apko', 'base.yaml');
    await writeFile(
      base,
      (await readFile(base, 'utf8')).replace(
        'contents:\n  packages: [busybox]\n',
        'contents:\n  packages: [busybox]\n  repositories: [https://evil.example/os]\n  keyring: [https://evil.example/k.rsa.pub]\n',
      ),
    );
    const problems = await problemsOf(dir);
    expect(problems.map(where)).toEqual([
      'apko/base.yaml:4: contents.repositories[0]',
      'apko/base.yaml:5: contents.keyring',
    ]);
    expect(problems[0]!.fix).toMatch(/allowRepositories/);
  });

  it('rejects an unknown key in the included file under its own name', async () => {
    const dir = await fixtureCopy();
    await writeFile(
      join(dir, 'apko', 'base.yaml'),
      `${await readFile(join(dir, 'apko', 'base.yaml'), 'utf8')}colour: blue\n`,
    );
    expect((await problemsOf(dir)).map((p) => `${p.file}: ${p.field}: ${p.message}`)).toEqual([
      'apko/base.yaml: colour: unknown key',
    ]);
  });

  it('checks the included file against the apko schema under its own name and line', async () => {
    const dir = await fixtureCopy();
    const base = join(dir, 'apko', 'base.yaml');
    // A known key with the wrong type: kiln's own key check passes it, apko's schema does not.
    await writeFile(base, (await readFile(base, 'utf8')).replace('volumes: [/var/lib/base]', 'volumes: /var/lib/base'));
    const problems = await problemsOf(dir);
    expect(problems.map(where)).toEqual(['apko/base.yaml:29: volumes']);
    expect(problems[0]!.message).toBe('must be an array (apko 1.2.31 schema)');
  });

  it.each([
    ['../outside.yaml', /leaves the catalog directory/],
    ['apko/../../outside.yaml', /leaves the catalog directory/],
    ['/etc/apko.yaml', /absolute path/],
    ['https://example.com/base.yaml', /not a file in the catalog/],
    ['apko/missing.yaml', /does not exist in the catalog/],
    ['apko', /is not a file/],
  ])('rejects include: %s with file, field and fix', async (include, message) => {
    const dir = await fixtureCopy();
    await writeFile(join(dir, '..', 'outside.yaml'), 'contents:\n  packages: [busybox]\n');
    await setInclude(dir, include);
    const problems = await problemsOf(dir);
    expect(problems.map(where)).toEqual([expect.stringMatching(/^images\/inc-app\/apko\.yaml:1: include$/)]);
    expect(problems[0]!.message).toMatch(message);
    expect(problems[0]!.fix).toMatch(/inside the catalog/);
  });

  it('resolves symlinks: one out of the catalog is rejected, one inside it is followed', async () => {
    const dir = await fixtureCopy();
    await writeFile(join(dir, '..', 'outside.yaml'), 'contents:\n  packages: [busybox]\n');
    await symlink(join(dir, '..', 'outside.yaml'), join(dir, 'apko', 'escape.yaml'));
    await setInclude(dir, 'apko/escape.yaml');
    const problems = await problemsOf(dir);
    expect(problems.map(where)).toEqual(['images/inc-app/apko.yaml:1: include']);
    expect(problems[0]!.message).toMatch(/through a symlink.*outside the catalog/);

    await mkdir(join(dir, 'linked'));
    await symlink('../apko/base.yaml', join(dir, 'linked', 'base.yaml'));
    const file = join(dir, 'images', 'inc-app', 'apko.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace('include: apko/escape.yaml', 'include: linked/base.yaml'),
    );
    expect((await load(dir)).images[0]!.packages).toEqual(['busybox', 'inc-tool']);
  });

  it('follows an include in the included file, and names an include loop', async () => {
    const dir = await fixtureCopy();
    const base = join(dir, 'apko', 'base.yaml');
    const text = await readFile(base, 'utf8');
    await writeFile(join(dir, 'apko', 'root.yaml'), 'contents:\n  packages: [kiln-baselayout]\n');
    await writeFile(base, `include: apko/root.yaml\n${text}`);
    expect((await load(dir)).images[0]!.packages).toEqual(['kiln-baselayout', 'busybox', 'inc-tool']);

    await writeFile(
      join(dir, 'apko', 'root.yaml'),
      'include: apko/base.yaml\ncontents:\n  packages: [kiln-baselayout]\n',
    );
    const problems = await problemsOf(dir);
    expect(problems.map(where)).toEqual(['apko/root.yaml:1: include']);
    expect(problems[0]!.message).toContain('apko/base.yaml -> apko/root.yaml -> apko/base.yaml');
  });
});

describe('mergeApkoInclude (apko MergeInto semantics)', () => {
  it('the including config wins for scalars; lists are base then override; maps keep base keys not overridden', () => {
    const base = {
      contents: { repositories: ['r1'], keyring: ['k1'], packages: ['a'], baseimage: { image: 'b' } },
      entrypoint: { command: '/bin/sh' },
      cmd: 'base-cmd',
      'stop-signal': 'SIGTERM',
      'work-dir': '/base',
      archs: ['x86_64'],
      environment: { A: '1', B: 'base' },
      annotations: { x: 'base' },
      accounts: { 'run-as': 'base', users: [{ username: 'u1' }], groups: [{ groupname: 'g1' }] },
      paths: [{ path: '/p1' }],
      volumes: ['/v1'],
      layering: { strategy: 'origin', budget: 2 },
      'vcs-url': 'https://base.example',
    };
    const over = {
      include: 'apko/base.yaml',
      contents: { repositories: ['r2'], packages: ['b'] },
      cmd: 'over-cmd',
      archs: [],
      environment: { B: 'over' },
      accounts: { users: [{ username: 'u2' }] },
      paths: [{ path: '/p2' }],
      volumes: ['/v2'],
    };
    expect(mergeApkoInclude(base, over)).toEqual({
      contents: { repositories: ['r1', 'r2'], keyring: ['k1'], packages: ['a', 'b'], baseimage: { image: 'b' } },
      entrypoint: { command: '/bin/sh' },
      cmd: 'over-cmd',
      'stop-signal': 'SIGTERM',
      'work-dir': '/base',
      archs: ['x86_64'],
      environment: { A: '1', B: 'over' },
      annotations: { x: 'base' },
      accounts: { 'run-as': 'base', users: [{ username: 'u1' }, { username: 'u2' }], groups: [{ groupname: 'g1' }] },
      paths: [{ path: '/p1' }, { path: '/p2' }],
      volumes: ['/v1', '/v2'],
      layering: { strategy: 'origin', budget: 2 },
    });
  });

  it('includeTarget normalises a path inside the catalog', () => {
    expect(includeTarget('apko/./x/../base.yaml')).toEqual({ path: 'apko/base.yaml' });
    expect(includeTarget(3)).toMatchObject({ message: 'must be the path of an apko config' });
  });
});

describe('apko options', () => {
  const check = (doc: Record<string, unknown>) => {
    const problems: CatalogProblem[] = [];
    checkApkoOptions(doc, new FileCheck('images/x/apko.yaml', problems));
    return problems.map((p) => `${p.field}: ${p.message}`);
  };

  it('accepts archs, annotations, paths, volumes and layering as apko does', () => {
    expect(
      check({
        archs: ['x86_64', 'aarch64'],
        annotations: { 'org.opencontainers.image.title': 'x', n: 1 },
        paths: [
          { path: '/data', type: 'directory', uid: 1, gid: 1, permissions: 0o755, recursive: true },
          { path: '/bin/x', type: 'symlink', source: '/bin/y' },
          { path: '/etc/x', type: 'empty-file' },
        ],
        volumes: ['/data'],
        layering: { strategy: 'origin', budget: 10 },
      }),
    ).toEqual([]);
  });

  it('rejects what apko would reject, naming the field', () => {
    expect(
      check({
        archs: 'x86_64',
        annotations: { a: { nested: true } },
        paths: [{ type: 'fifo', permissions: -1, recursive: 'yes', mode: 1 }],
        volumes: [1],
        layering: { strategy: 'size', budget: 1.5 },
      }),
    ).toEqual([
      'archs: must be a list of strings',
      'annotations.a: must be a string',
      'volumes: must be a list of strings',
      'layering.strategy: "size" is not a layering strategy apko knows',
      'layering.budget: must be a whole number of layers',
      'paths[0].mode: unknown key',
      'paths[0].path: missing the path to change',
      'paths[0].type: "fifo" is not a path type apko knows',
      'paths[0].permissions: must be a whole number',
      'paths[0].recursive: must be true or false',
    ]);
  });
});
