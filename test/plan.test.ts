import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Catalog, PackageSpec } from '../domain/catalog.js';
import { loadCatalog } from '../domain/catalog-loader.js';
import { dependentsOf, findCycle, planBuild } from '../domain/plan.js';
import { REPO_ROOT } from '../activities/env.js';
import { useKilnEnv } from './harness.js';

const env = { ...process.env, ...useKilnEnv() };

/** A package spec for pure plan tests (a hand-written fixture, not loaded from YAML). */
function pkg(name: string, build: string[] = [], runtime: string[] = [], extra: Partial<PackageSpec> = {}): PackageSpec {
  return { name, version: '1.0', epoch: 0, file: `packages/${name}.yaml`, subpackages: [], provides: [], buildDependencies: ['busybox', ...build], runtimeDependencies: runtime, hasTest: false, ...extra };
}

function catalog(packages: PackageSpec[], images: Catalog['images'] = []): Catalog {
  return { dir: '/x', settings: { archs: ['x86_64'], repositories: [], keyring: [], packageRepository: '/r', registry: 'r/k', namespace: 'k', concurrency: { packages: 2, images: 1 }, abi: { allowedBreaks: [] },
    schedule: { cron: '17 2 * * *', timezone: 'UTC', overlap: 'skip', catchupWindow: '1h' },
    updates: { every: '1h', branchPrefix: 'kiln/update/', onMainBranch: false, githubApi: 'https://api.github.com' } }, packages, images };
}

describe('planBuild', () => {
  it('orders the example catalog: independent packages share a level, the chain climbs', async () => {
    const plan = planBuild(await loadCatalog(join(REPO_ROOT, 'catalog'), { env }));
    expect(plan.levels).toEqual([['greeting-data', 'motd'], ['libgreet'], ['hello']]);
    expect(plan.images).toEqual([
      { name: 'base', packages: [], tags: ['latest'] },
      { name: 'hello', packages: ['hello', 'libgreet'], tags: ['latest'] },
      { name: 'motd', packages: ['motd'], tags: ['latest'] },
    ]);
  });

  it('resolves dependencies through subpackages and provides, with version constraints', () => {
    const plan = planBuild(catalog([
      pkg('openssl', [], [], { subpackages: ['libcrypto3'], provides: ['so:libcrypto.so.3'] }),
      pkg('curl', ['libcrypto3>=3.0']),
      pkg('wget', ['so:libcrypto.so.3']),
    ]));
    expect(plan.packages.find((p) => p.name === 'curl')!.dependsOn).toEqual(['openssl']);
    expect(plan.packages.find((p) => p.name === 'wget')!.dependsOn).toEqual(['openssl']);
    expect(plan.levels).toEqual([['openssl'], ['curl', 'wget']]);
  });

  it('puts a package one level above its deepest dependency (longest path)', () => {
    const plan = planBuild(catalog([pkg('a'), pkg('b', ['a']), pkg('c', ['b']), pkg('d', ['a', 'c'])]));
    expect(plan.levels).toEqual([['a'], ['b'], ['c'], ['d']]);
  });

  it('gives an image the catalog packages it installs through runtime dependencies', () => {
    const plan = planBuild(catalog(
      [pkg('lib'), pkg('tool', [], ['lib', 'busybox']), pkg('unrelated')],
      [{ name: 'img', file: 'images/img/apko.yaml', packages: ['tool=1.0-r0'], tags: ['latest'], tests: [], expectations: {} }],
    ));
    expect(plan.images[0]!.packages).toEqual(['lib', 'tool']);
  });
});

describe('findCycle', () => {
  it('prints the cycle as a path back to its start', () => {
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', []]]))).toEqual(['a', 'b', 'c', 'a']);
  });
  it('finds none in a DAG', () => {
    expect(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toBeUndefined();
  });
});

describe('dependentsOf', () => {
  it('lists every direct and indirect dependent', () => {
    const plan = planBuild(catalog([pkg('a'), pkg('b', ['a']), pkg('c', ['b']), pkg('x')]));
    expect(dependentsOf(plan, 'a')).toEqual(['b', 'c']);
    expect(dependentsOf(plan, 'c')).toEqual([]);
  });
});
