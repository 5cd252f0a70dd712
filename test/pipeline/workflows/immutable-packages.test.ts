// Published APKs never change bytes, on real builds from a real git catalog: a dependency change
// keeps the dependent's published build (and says so); an allowed ABI break gets the packages that
// link the removed soname a new epoch, committed on a branch and listed in the summary; building
// that branch publishes a new file beside the old one, which stays as it was.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogRebuild } from '../../../workflows/catalog-rebuild.js';
import { formatSummary, type RebuildSummary } from '../../../domain/summary.js';
import { parseApkIndex } from '../../../domain/apkindex.js';
import { sha256hex } from '../../../domain/digest.js';
import { isolatedFixture, kilnTestConfig, kilnTestEnv, useTemporal, rebuildSummary } from '../harness.js';
import { ZLIB, withSoname } from '../../fixtures/elf.js';

const env = kilnTestEnv();
const temporal = useTemporal(env);
const repo = join(env.KILN_STATE, 'repo-immutable', 'x86_64');
const app = join(repo, 'imm-app-1.0.0-r0.apk');
const appRecord = join(repo, '.kiln', 'imm-app-1.0.0-r0.json');
const branch = 'kiln/update/rebuild-imm-lib-2.0.0-r0';
let git: string;
let catalogDir: string;

const sh = (...args: string[]) => execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: git });

async function rebuild(name: string, dir = catalogDir): Promise<RebuildSummary> {
  const worker = await temporal().worker('immutable', kilnTestConfig(env, { KILN_CATALOG: dir }));
  return rebuildSummary(
    await worker.runUntil(
      temporal().client.workflow.execute(catalogRebuild, {
        taskQueue: 'immutable',
        workflowId: `immutable-${name}-${Date.now()}`,
        args: [{ catalogDir: dir }],
      }),
    ),
  );
}

async function commit(message: string, edit: () => Promise<void>): Promise<void> {
  await edit();
  await sh('add', '-A');
  await sh('commit', '-q', '-m', message);
}

async function editFile(file: string, from: RegExp, to: string): Promise<void> {
  const path = join(catalogDir, file);
  const text = await readFile(path, 'utf8');
  expect(text).toMatch(from);
  await writeFile(path, text.replace(from, to));
}

const statuses = (s: RebuildSummary) => Object.fromEntries(s.packages.map((p) => [p.name, p.status]));
const digest = async (path: string) => sha256hex(await readFile(path));

describe('published APKs never change', () => {
  let appBytes: string;
  let recordBytes: string;

  beforeAll(async () => {
    git = join(await mkdtemp(join(tmpdir(), 'kiln-immutable-')), 'catalog-repo');
    catalogDir = join(git, 'catalog');
    await isolatedFixture('immutable', catalogDir, 'immutable');
    await mkdir(join(catalogDir, 'packages', 'imm-lib'));
    await copyFile(ZLIB, join(catalogDir, 'packages', 'imm-lib', basename(ZLIB)));
    await execa('git', ['init', '-q', '-b', 'main', git]);
    await commit('catalog', async () => undefined);
  });

  it('builds and publishes imm-lib and imm-app', async () => {
    const first = await rebuild('first');
    expect(first.ok, JSON.stringify(first, null, 2)).toBe(true);
    expect(statuses(first)).toEqual({ 'imm-app': 'built', 'imm-lib': 'built' });
    appBytes = await digest(app);
    recordBytes = await digest(appRecord);
  });

  it('keeps the published build of a package whose dependency changed, and says which', async () => {
    await commit('imm-lib 1.0.1', () =>
      editFile('packages/imm-lib.yaml', /^ {2}version: 1\.0\.0$/m, '  version: 1.0.1'),
    );
    const second = await rebuild('dependency');
    expect(second.ok, JSON.stringify(second, null, 2)).toBe(true);
    expect(statuses(second)).toEqual({ 'imm-app': 'up-to-date', 'imm-lib': 'built' });
    const appOutcome = second.packages.find((p) => p.name === 'imm-app')!;
    expect(appOutcome.dependenciesChanged).toEqual(['imm-lib']);
    expect(formatSummary(second)).toMatch(
      /imm-app +1\.0\.0-r0 +up-to-date .*published build kept, its dependencies changed since: imm-lib/,
    );
    // Same bytes, same record: the repository still says what it was built from.
    expect(await digest(app)).toBe(appBytes);
    expect(await digest(appRecord)).toBe(recordBytes);
    expect(appOutcome.apks!.x86_64).toEqual([{ file: 'imm-app-1.0.0-r0.apk', sha256: appBytes }]);
  });

  describe('an allowed ABI break', () => {
    let third: RebuildSummary;
    beforeAll(async () => {
      await commit('imm-lib 2.0.0: libz.so.2', async () => {
        const sources = join(catalogDir, 'packages', 'imm-lib');
        await writeFile(join(sources, 'libz.so.2.0.0'), withSoname(await readFile(ZLIB), 'libz.so.2'));
        await rm(join(sources, basename(ZLIB)));
        await editFile('packages/imm-lib.yaml', /^ {2}version: 1\.0\.1$/m, '  version: 2.0.0');
        const settings = join(catalogDir, 'catalog.yaml');
        await writeFile(
          settings,
          `${await readFile(settings, 'utf8')}abi:\n  allowedBreaks:\n    - { package: imm-lib, version: 2.0.0, reason: "libz.so.2" }\n`,
        );
      });
      third = await rebuild('abi-break');
    });

    it('publishes the library, keeps the dependent, and lists the epoch bump committed for it', async () => {
      expect(third.ok, JSON.stringify(third, null, 2)).toBe(true);
      expect(statuses(third)).toEqual({ 'imm-app': 'up-to-date', 'imm-lib': 'built' });
      expect(third.packages.find((p) => p.name === 'imm-lib')!.abi).toMatchObject({
        verdict: 'break-allowed',
        removed: ['so:libz.so.1'],
        rebuild: ['imm-app'],
      });
      const commitId = (await sh('rev-parse', branch)).stdout;
      expect(third.epochBumps).toEqual([
        {
          because: 'imm-lib 2.0.0-r0 no longer provides so:libz.so.1',
          packages: [{ name: 'imm-app', file: 'packages/imm-app.yaml', epoch: 0, newEpoch: 1 }],
          notInCatalog: [],
          branch,
          commit: commitId,
          catalogDir: expect.stringMatching(/\/catalog$/),
        },
      ]);
      expect(third.packages.find((p) => p.name === 'imm-app')!.epochBump).toEqual({
        epoch: 1,
        branch,
        commit: commitId,
      });
      expect(formatSummary(third)).toMatch(
        /Epoch bumps .*\n {2}imm-lib 2\.0\.0-r0 no longer provides so:libz\.so\.1: imm-app 0 -> 1 on branch kiln\/update\/rebuild-imm-lib-2\.0\.0-r0/,
      );
      expect(await digest(app)).toBe(appBytes);
    });

    it('records the new epoch as one commit on a branch from the built commit; main is untouched', async () => {
      expect((await sh('show', `${branch}:catalog/packages/imm-app.yaml`)).stdout).toMatch(/^ {2}epoch: 1$/m);
      expect((await sh('log', '-1', '--format=%s', branch)).stdout).toBe('Rebuild imm-app for imm-lib 2.0.0-r0');
      expect((await sh('rev-list', '--count', `main..${branch}`)).stdout).toBe('1');
      expect((await sh('diff', '--name-only', `main..${branch}`)).stdout).toBe('catalog/packages/imm-app.yaml');
      expect(await readFile(join(catalogDir, 'packages', 'imm-app.yaml'), 'utf8')).toMatch(/^ {2}epoch: 0$/m);
      expect((await sh('status', '--porcelain')).stdout).toBe('');
    });

    it('builds the bumped epoch from that branch as a new file; the old one stays byte for byte', async () => {
      const fourth = await rebuild('bumped', third.epochBumps![0]!.catalogDir);
      expect(fourth.ok, JSON.stringify(fourth, null, 2)).toBe(true);
      expect(fourth.packages.map((p) => `${p.name} ${p.version}-r${p.epoch} ${p.status}`)).toEqual([
        'imm-app 1.0.0-r1 built',
        'imm-lib 2.0.0-r0 up-to-date',
      ]);
      expect(await digest(app)).toBe(appBytes);
      expect(await digest(appRecord)).toBe(recordBytes);
      const index = await parseApkIndex(await readFile(join(repo, 'APKINDEX.tar.gz')));
      expect(
        index
          .filter((e) => e.name === 'imm-app')
          .map((e) => e.version)
          .sort(),
      ).toEqual(['1.0.0-r0', '1.0.0-r1']);
    });
  });
});

describe('an allowed ABI break in a catalog outside git', () => {
  let plain: string;
  let summary: RebuildSummary;
  let appBefore: string;
  const plainRepo = join(env.KILN_STATE, 'repo-immutable-plain', 'x86_64');

  beforeAll(async () => {
    plain = await isolatedFixture(
      'immutable',
      await mkdtemp(join(tmpdir(), 'kiln-immutable-plain-')),
      'immutable-plain',
    );
    const sources = join(plain, 'packages', 'imm-lib');
    await mkdir(sources);
    await copyFile(ZLIB, join(sources, basename(ZLIB)));
    const first = await rebuild('plain-first', plain);
    expect(first.ok, JSON.stringify(first, null, 2)).toBe(true);
    appBefore = await digest(join(plainRepo, 'imm-app-1.0.0-r0.apk'));
    await writeFile(join(sources, 'libz.so.2.0.0'), withSoname(await readFile(ZLIB), 'libz.so.2'));
    await rm(join(sources, basename(ZLIB)));
    const lib = join(plain, 'packages', 'imm-lib.yaml');
    await writeFile(lib, (await readFile(lib, 'utf8')).replace(/^ {2}version: 1\.0\.0$/m, '  version: 2.0.0'));
    const settings = join(plain, 'catalog.yaml');
    await writeFile(
      settings,
      `${await readFile(settings, 'utf8')}abi:\n  allowedBreaks:\n    - { package: imm-lib, version: 2.0.0, reason: "libz.so.2" }\n`,
    );
    summary = await rebuild('plain-break', plain);
  });

  it('fails the dependents, naming each package, its file and the epoch to set; their APKs stay', async () => {
    expect(summary.ok).toBe(false);
    expect(statuses(summary)).toEqual({ 'imm-app': 'failed', 'imm-lib': 'built' });
    const error = summary.packages.find((p) => p.name === 'imm-app')!.error!;
    expect(error).toMatch(
      /^imm-app must be rebuilt with a new epoch: imm-lib 2\.0\.0-r0 no longer provides so:libz\.so\.1 .* is not in a git repository \(fix: bump package\.epoch: packages\/imm-app\.yaml to 1;/,
    );
    expect(summary.epochBumps).toEqual([
      {
        because: 'imm-lib 2.0.0-r0 no longer provides so:libz.so.1',
        packages: [{ name: 'imm-app', epoch: 0, newEpoch: 1 }],
        notInCatalog: [],
        error,
      },
    ]);
    expect(formatSummary(summary)).toMatch(
      /imm-lib 2\.0\.0-r0 no longer provides so:libz\.so\.1: imm-app 0 -> 1: NOT COMMITTED: /,
    );
    expect(await digest(join(plainRepo, 'imm-app-1.0.0-r0.apk'))).toBe(appBefore);
  });
});
