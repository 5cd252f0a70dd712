// The build plan: who builds against whom, in which order, and what each image installs.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog, ImageSpec, PackageSpec } from '../../../domain/catalog.js';
import { loadCatalog } from '../../../io/catalog-loader.js';
import { dependentsOf, findCycle, planBuild } from '../../../domain/plan.js';
import { bootstrapStateFixture } from '../../fixtures/apkindex-fixture.js';
import { REPO_ROOT } from '../../../config/config.js';

let state: string;
beforeAll(async () => {
  state = await bootstrapStateFixture();
});
afterAll(async () => rm(state, { recursive: true, force: true }));

/** A package spec for pure plan tests (a hand-written fixture, not loaded from YAML). */
function pkg(
  name: string,
  build: string[] = [],
  runtime: string[] = [],
  extra: Partial<PackageSpec> = {},
): PackageSpec {
  return {
    name,
    version: '1.0',
    epoch: 0,
    file: `packages/${name}.yaml`,
    subpackages: [],
    provides: [],
    buildDependencies: ['busybox', ...build],
    runtimeDependencies: runtime,
    hasTest: false,
    ...extra,
  };
}

function image(name: string, packages: string[], tags = ['latest']): ImageSpec {
  return { name, file: `images/${name}/apko.yaml`, packages, tags, tests: [], expectations: {} };
}

function catalog(packages: PackageSpec[], images: ImageSpec[] = []): Catalog {
  return {
    dir: '/x',
    settings: {
      archs: ['x86_64'],
      repositories: [],
      keyring: [],
      packageRepository: '/r',
      registry: 'r/k',
      namespace: 'k',
      concurrency: { packages: 2, images: 1 },
      abi: { allowedBreaks: [] },
      schedule: { cron: '17 2 * * *', timezone: 'UTC', overlap: 'skip', catchupWindow: '1h' },
      updates: {
        every: '1h',
        branchPrefix: 'kiln/update/',
        onMainBranch: false,
        githubApi: 'https://api.github.com',
        repositories: {},
      },
    },
    packages,
    images,
  };
}

describe('planBuild', () => {
  it('orders the example catalog: independent packages share a level, the chain climbs', async () => {
    const plan = planBuild(await loadCatalog(join(REPO_ROOT, 'catalog'), { env: { KILN_STATE: state } }));
    expect(plan.levels).toEqual([['greeting-data', 'motd'], ['libgreet'], ['hello']]);
    expect(plan.packages).toEqual([
      { name: 'greeting-data', version: '1.0.0', epoch: 0, dependsOn: [] },
      { name: 'hello', version: '2.1.0', epoch: 1, dependsOn: ['libgreet'] },
      { name: 'libgreet', version: '1.2.0', epoch: 1, dependsOn: ['greeting-data'] },
      { name: 'motd', version: '0.3.1', epoch: 1, dependsOn: [] },
    ]);
    // base installs only bootstrap packages: nothing of the catalog to wait for.
    expect(plan.images).toEqual([
      { name: 'base', packages: [], tags: ['latest'] },
      { name: 'hello', packages: ['hello', 'libgreet'], tags: ['latest'] },
      { name: 'motd', packages: ['motd'], tags: ['latest'] },
    ]);
  });

  it('makes no edge for a dependency only a repository provides', () => {
    const plan = planBuild(catalog([pkg('a', ['cmd:sh', 'so:libc.so.6']), pkg('b', ['ca-certificates'])]));
    expect(plan.packages.map((p) => p.dependsOn)).toEqual([[], []]);
    expect(plan.levels).toEqual([['a', 'b']]);
  });

  it('resolves dependencies through subpackages and provides, with version constraints', () => {
    const plan = planBuild(
      catalog([
        pkg('openssl', [], [], { subpackages: ['libcrypto3'], provides: ['so:libcrypto.so.3'] }),
        pkg('curl', ['libcrypto3>=3.0']),
        pkg('wget', ['so:libcrypto.so.3']),
      ]),
    );
    expect(plan.packages.find((p) => p.name === 'curl')!.dependsOn).toEqual(['openssl']);
    expect(plan.packages.find((p) => p.name === 'wget')!.dependsOn).toEqual(['openssl']);
    expect(plan.levels).toEqual([['openssl'], ['curl', 'wget']]);
  });

  it('puts a package one level above its deepest dependency (longest path)', () => {
    const plan = planBuild(catalog([pkg('a'), pkg('b', ['a']), pkg('c', ['b']), pkg('d', ['a', 'c'])]));
    expect(plan.levels).toEqual([['a'], ['b'], ['c'], ['d']]);
  });

  it('gives the same plan whatever order the packages were read in', () => {
    const packages = [
      pkg('zlib'),
      pkg('curl', ['zlib', 'openssl']),
      pkg('openssl', ['zlib']),
      pkg('jq'),
      pkg('git', ['curl']),
    ];
    const forward = planBuild(catalog(packages));
    const backward = planBuild(catalog([...packages].reverse()));
    expect(backward).toEqual(forward);
    expect(forward.levels).toEqual([['jq', 'zlib'], ['openssl'], ['curl'], ['git']]);
  });

  it('gives an image the catalog packages it installs through runtime dependencies', () => {
    const plan = planBuild(
      catalog(
        [
          pkg('lib', [], ['so:libc.so.6']),
          pkg('tool', [], ['lib-data', 'busybox']),
          pkg('libsrc', [], ['lib'], { subpackages: ['lib-data'] }),
          pkg('unrelated', [], ['lib']),
        ],
        [image('img', ['tool=1.0-r0', 'busybox']), image('bare', ['busybox'], ['latest', '1'])],
      ),
    );
    expect(plan.images).toEqual([
      { name: 'bare', packages: [], tags: ['latest', '1'] },
      { name: 'img', packages: ['lib', 'libsrc', 'tool'], tags: ['latest'] },
    ]);
  });

  it('ignores a runtime cycle when closing over an image', () => {
    const plan = planBuild(catalog([pkg('a', [], ['b']), pkg('b', [], ['a'])], [image('img', ['a'])]));
    expect(plan.images[0]!.packages).toEqual(['a', 'b']);
  });
});

describe('findCycle', () => {
  it('prints the cycle as a path back to its start', () => {
    const cycle = findCycle(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
        ['d', []],
      ]),
    );
    expect(cycle).toEqual(['a', 'b', 'c', 'a']);
    expect(cycle!.join(' -> ')).toBe('a -> b -> c -> a');
  });
  it('returns only the cycle, not the path that led into it', () => {
    expect(
      findCycle(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['d']],
          ['d', ['b']],
        ]),
      ),
    ).toEqual(['b', 'c', 'd', 'b']);
  });
  it('finds a self-loop', () => {
    expect(findCycle(new Map([['a', ['a']]]))).toEqual(['a', 'a']);
  });
  it('finds none in a DAG, even with shared dependencies', () => {
    expect(
      findCycle(
        new Map([
          ['a', ['b', 'c']],
          ['b', ['c']],
          ['c', []],
        ]),
      ),
    ).toBeUndefined();
  });
});

describe('dependentsOf', () => {
  it('lists every direct and indirect dependent, once', () => {
    // diamond: d depends on b and c, both on a
    const plan = planBuild(catalog([pkg('a'), pkg('b', ['a']), pkg('c', ['a']), pkg('d', ['b', 'c']), pkg('x')]));
    expect(dependentsOf(plan, 'a')).toEqual(['b', 'c', 'd']);
    expect(dependentsOf(plan, 'b')).toEqual(['d']);
    expect(dependentsOf(plan, 'd')).toEqual([]);
    expect(dependentsOf(plan, 'x')).toEqual([]);
  });
});
