// `kiln plan --since`: what a change rebuilds, tried on a small catalog in a git repository made
// here (commit, then change a package's sources, an image, catalog.yaml), and the plan's formats.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../../io/catalog-loader.js';
import { planBuild } from '../../../domain/plan.js';
import { changeImpact, impactText } from '../../../domain/changes.js';
import { formatPlan, planDot, planJson, planText } from '../../../domain/plan-format.js';
import { changedSince, gitOk } from '../../../adapters/git.js';
import { isFailure } from '../../../domain/failures.js';
import type { Catalog } from '../../../domain/catalog.js';
import { bootstrapStateFixture } from '../../fixtures/apkindex-fixture.js';

const CATALOG_YAML = `archs: [x86_64]
repositories: ["\${KILN_STATE}/bootstrap"]
keyring: ["\${KILN_STATE}/keys/kiln.rsa.pub"]
packageRepository: "\${KILN_STATE}/repo"
registry: "127.0.0.1:5000/kiln"
`;
const melange = (name: string, build: string[], runtime: string[] = []) => `package:
  name: ${name}
  version: 1.2.3
  epoch: 4
  description: ${name} for the change tests
  copyright:
    - license: Apache-2.0
  dependencies:
    runtime: [${runtime.join(', ')}]
environment:
  contents:
    packages: [${['busybox', ...build].join(', ')}]
pipeline:
  - runs: mkdir -p "\${{targets.destdir}}/usr/share/${name}"
`;
const apko = (packages: string[]) => `contents:
  packages: [${packages.join(', ')}]
entrypoint:
  command: /bin/sh
archs: [x86_64]
`;

let state: string;
let repo: string;
let catalogDir: string;
let catalog: Catalog;
const write = async (rel: string, text: string) => {
  await mkdir(dirname(join(catalogDir, rel)), { recursive: true });
  await writeFile(join(catalogDir, rel), text);
};

beforeAll(async () => {
  state = await bootstrapStateFixture();
  repo = await mkdtemp(join(tmpdir(), 'kiln-changes-'));
  // The catalog sits in a subdirectory: files outside it never count.
  catalogDir = join(repo, 'catalog');
  await write('catalog.yaml', CATALOG_YAML);
  await write('packages/lib-a.yaml', melange('lib-a', []));
  await write('packages/lib-a/fix.patch', 'original\n');
  await write('packages/lib-b.yaml', melange('lib-b', ['lib-a']));
  await write('packages/app-c.yaml', melange('app-c', ['lib-b'], ['lib-b']));
  await write('packages/solo-d.yaml', melange('solo-d', []));
  await write('images/img-c/apko.yaml', apko(['busybox', 'app-c']));
  await write('images/img-d/apko.yaml', apko(['busybox', 'solo-d']));
  await write('apko/base.yaml', apko(['busybox']));
  await write('images/img-e/apko.yaml', 'include: apko/base.yaml\n');
  await writeFile(join(repo, 'README'), 'outside the catalog\n');
  await gitOk(repo, ['init', '--quiet', '--initial-branch=main']);
  await gitOk(repo, ['add', '-A']);
  await gitOk(repo, ['commit', '--quiet', '--no-gpg-sign', '-m', 'catalog']);
  catalog = await loadCatalog(catalogDir, { env: { KILN_STATE: state } });
});
afterAll(async () => {
  for (const dir of [state, repo]) await rm(dir, { recursive: true, force: true });
});

async function impactOfChange(change: () => Promise<void>) {
  await change();
  try {
    return changeImpact(catalog, planBuild(catalog), await changedSince(catalogDir, 'HEAD'));
  } finally {
    await gitOk(repo, ['restore', '--source=HEAD', '--worktree', '--', '.']);
    await gitOk(repo, ['clean', '--quiet', '-fd']);
  }
}

describe('plan --since', () => {
  it('nothing changed rebuilds nothing; files outside the catalog do not count', async () => {
    const impact = await impactOfChange(() => writeFile(join(repo, 'README'), 'edited\n'));
    expect(impact).toEqual({ everything: false, changed: [], packages: [], images: [] });
  });

  it("a package's sources changed: it, its reverse build dependencies and their images", async () => {
    const impact = await impactOfChange(() => write('packages/lib-a/fix.patch', 'changed\n'));
    expect(impact).toEqual({
      everything: false,
      changed: ['lib-a'],
      packages: ['app-c', 'lib-a', 'lib-b'],
      images: ['img-c'],
    });
    expect(impactText('HEAD', impact)).toContain('Packages to rebuild (3): app-c, lib-a, lib-b');
  });

  it('a new, untracked source file of a package counts', async () => {
    const impact = await impactOfChange(() => write('packages/solo-d/new.patch', 'new\n'));
    expect(impact.changed).toEqual(['solo-d']);
    expect(impact.images).toEqual(['img-d']);
  });

  it("a package's config changed at a committed ref", async () => {
    await write('packages/lib-b.yaml', melange('lib-b', ['lib-a']).replace('for the change tests', 'edited'));
    await gitOk(repo, ['commit', '--quiet', '--no-gpg-sign', '-am', 'edit lib-b']);
    const impact = changeImpact(catalog, planBuild(catalog), await changedSince(catalogDir, 'HEAD~1'));
    expect(impact.changed).toEqual(['lib-b']);
    expect(impact.packages).toEqual(['app-c', 'lib-b']);
    expect(impact.images).toEqual(['img-c']);
  });

  it("an image's directory changed: that image only", async () => {
    const impact = await impactOfChange(() => write('images/img-d/image.yaml', 'tags: [edge]\n'));
    expect(impact).toEqual({ everything: false, changed: [], packages: [], images: ['img-d'] });
  });

  it('a file an apko.yaml includes changed: the images that include it', async () => {
    const impact = await impactOfChange(() => write('apko/base.yaml', `${apko(['busybox'])}# edited\n`));
    expect(impact).toEqual({ everything: false, changed: [], packages: [], images: ['img-e'] });
  });

  it('catalog.yaml changed: everything', async () => {
    const impact = await impactOfChange(() => write('catalog.yaml', `${CATALOG_YAML}# edited\n`));
    expect(impact.everything).toBe(true);
    expect(impact.packages).toEqual(['app-c', 'lib-a', 'lib-b', 'solo-d']);
    expect(impact.images).toEqual(['img-c', 'img-d', 'img-e']);
    expect(impactText('main', impact)).toContain('catalog.yaml changed');
  });

  it('an unknown ref is InvalidInput naming the ref', async () => {
    const err = await changedSince(catalogDir, 'no-such-ref').catch((e: unknown) => e);
    expect(isFailure(err, 'InvalidInput')).toBe(true);
    expect((err as Error).message).toContain('no-such-ref');
  });
});

describe('plan formats', () => {
  it('text is the plan by level, then images', () => {
    const text = planText(planBuild(catalog));
    expect(text.split('\n')).toEqual([
      "Packages (4), built level by level; a level's packages run in parallel:",
      '  level 0: lib-a, solo-d',
      '  level 1: lib-b (after lib-a)',
      '  level 2: app-c (after lib-b)',
      'Images (3):',
      '  img-c [latest]: app-c, lib-b',
      '  img-d [latest]: solo-d',
      '  img-e [latest]: (repository packages only)',
    ]);
    expect(formatPlan(planBuild(catalog), 'text')).toBe(text);
  });

  it('json carries version, epoch, dependsOn and level; images with packages and tags', () => {
    const data = JSON.parse(planJson(planBuild(catalog))) as {
      packages: { name: string; version: string; epoch: number; dependsOn: string[]; level: number }[];
      images: { name: string; packages: string[]; tags: string[] }[];
    };
    expect(data.packages.find((p) => p.name === 'app-c')).toEqual({
      name: 'app-c',
      version: '1.2.3',
      epoch: 4,
      dependsOn: ['lib-b'],
      level: 2,
    });
    expect(data.images).toEqual([
      { name: 'img-c', packages: ['app-c', 'lib-b'], tags: ['latest'] },
      { name: 'img-d', packages: ['solo-d'], tags: ['latest'] },
      { name: 'img-e', packages: [], tags: ['latest'] },
    ]);
  });

  it('dot is a digraph of build edges and image edges', () => {
    const dot = planDot(planBuild(catalog));
    expect(dot.startsWith('digraph kiln {')).toBe(true);
    expect(dot.trimEnd().endsWith('}')).toBe(true);
    expect(dot).toContain('"lib-b" -> "lib-a";');
    expect(dot).toContain('"app-c" -> "lib-b";');
    expect(dot).toContain('"image:img-c" -> "app-c" [style=dashed];');
    expect(dot).toContain('"lib-a" [label="lib-a 1.2.3-r4"];');
  });
});
