// What setup prepares for the repository's catalogs: the toolchain where a catalog names it, and
// the mirror's tarballs its configs fetch.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../config/config.js';
import { catalogNeeds, repositoryCatalogs, usesToolchain } from '../../../setup/toolchain-needs.js';

const state = '/var/lib/kiln';
const repo = loadConfig().repoRoot;

describe('usesToolchain', () => {
  it('is true when repositories name ${KILN_STATE}/toolchain', () => {
    const doc = { repositories: ['${KILN_STATE}/bootstrap', '${KILN_STATE:-/x}/toolchain'] };
    expect(usesToolchain(doc, '/cat', state)).toBe(true);
    expect(usesToolchain({ repositories: ['${KILN_STATE}/bootstrap'] }, '/cat', state)).toBe(false);
    expect(usesToolchain({}, '/cat', state)).toBe(false);
  });
});

describe('catalogNeeds', () => {
  it('lists every arch of every catalog (each needs a bootstrap repository), the toolchain only where named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-needs-'));
    try {
      await mkdir(join(dir, 'two'));
      await mkdir(join(dir, 'plain'));
      await writeFile(join(dir, 'two', 'catalog.yaml'), 'archs: [x86_64, aarch64]\nrepositories: [/s/bootstrap]\n');
      await writeFile(join(dir, 'plain', 'catalog.yaml'), 'repositories: [/s/bootstrap, /s/toolchain]\n');
      const needs = await catalogNeeds([join(dir, 'two'), join(dir, 'plain')], '/s');
      expect(needs.archs).toEqual(['aarch64', 'x86_64']);
      expect(needs.toolchainArchs).toEqual(['x86_64']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the repository catalogs', () => {
  it('include the configured catalog and the examples', async () => {
    const dirs = await repositoryCatalogs(loadConfig({ KILN_STATE: state }));
    expect(dirs).toContain(join(repo, 'catalog'));
    expect(dirs).toContain(join(repo, 'examples', 'real'));
  });

  it('the example of real software needs the x86_64 toolchain and three upstream tarballs', async () => {
    const needs = await catalogNeeds([join(repo, 'catalog'), join(repo, 'examples', 'real')], state);
    expect(needs.toolchainArchs).toEqual(['x86_64']);
    expect(needs.archs).toEqual(['x86_64']);
    expect(needs.mirror.map((r) => `${r.project}/${r.file}`).sort()).toEqual([
      'pigz/pigz-2.8.tar.xz',
      'tree/tree-2.1.0.tar.gz',
      'zlib/zlib-1.2.13.tar.bz2',
    ]);
    expect(needs.mirror.every((r) => /^[0-9a-f]{64}$/.test(r.expectedSha256 ?? ''))).toBe(true);
  });
});
