// bumpEpochs on real git: after an allowed ABI break, the dependents' new epochs are one commit on
// a branch of the catalog's repository (main untouched, a second call commits nothing), and a
// catalog outside git gets a clear failure naming each package, its file and the epoch to set.
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { bumpEpochs, type EpochBumpInput } from '../../../activities/package-epoch.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { configWith, type KilnConfig } from '../../../config/config.js';
import { FIXTURES } from '../../fixtures/paths.js';

const env = inject('kilnEnv');
const config = configWith({ ...env });
const run = <I, R>(fn: (config: KilnConfig, input: I) => Promise<R>, input: I): Promise<R> =>
  new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(fn, config, input) as Promise<R>;
const git = (cwd: string, ...args: string[]) =>
  execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd });

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kiln-epoch-'));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

const library = { name: 'imm-lib', version: '2.0.0', epoch: 0, removed: ['so:libz.so.1'] };

async function input(catalogDir: string): Promise<EpochBumpInput> {
  const snapshot = await snapshotCatalog({ ...config, catalogDir }, { catalogDir });
  return {
    snapshotDir: snapshot.dir,
    catalogDir,
    gitCommit: snapshot.gitCommit,
    library,
    // someone-else: published by another catalog, depends on the soname too.
    dependents: ['imm-app', 'someone-else'],
  };
}

describe('bumpEpochs', () => {
  it('fails outside git, naming each package, its file, the epoch to set and why', async () => {
    const catalogDir = join(scratch, 'plain');
    await cp(join(FIXTURES, 'immutable'), catalogDir, { recursive: true });
    const err = await run(bumpEpochs, await input(catalogDir)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('EpochNotBumped');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(
      /^imm-app must be rebuilt with a new epoch: imm-lib 2\.0\.0-r0 no longer provides so:libz\.so\.1 \(catalog\.yaml abi\.allowedBreaks\)/,
    );
    expect(failure.message).toMatch(
      /is not in a git repository \(fix: bump package\.epoch: packages\/imm-app\.yaml to 1;/,
    );
  });

  describe('in a git repository', () => {
    let repo: string;
    let catalogDir: string;
    beforeAll(async () => {
      repo = join(scratch, 'repo');
      catalogDir = join(repo, 'catalog');
      await cp(join(FIXTURES, 'immutable'), catalogDir, { recursive: true });
      await git(scratch, 'init', '-q', '-b', 'main', repo);
      await git(repo, 'add', '-A');
      await git(repo, 'commit', '-q', '-m', 'catalog');
    });

    it('commits the bumped epochs on a branch from the run commit, once, leaving main alone', async () => {
      const bump = await run(bumpEpochs, await input(catalogDir));
      const branch = 'kiln/update/rebuild-imm-lib-2.0.0-r0';
      expect(bump).toEqual({
        because: 'imm-lib 2.0.0-r0 no longer provides so:libz.so.1',
        packages: [{ name: 'imm-app', file: 'packages/imm-app.yaml', epoch: 0, newEpoch: 1 }],
        notInCatalog: ['someone-else'],
        branch,
        commit: expect.stringMatching(/^[0-9a-f]{40}$/),
        catalogDir: expect.stringContaining(join(env.KILN_STATE, 'worktrees')),
      });
      const onBranch = (await git(repo, 'show', `${branch}:catalog/packages/imm-app.yaml`)).stdout;
      expect(onBranch).toMatch(/^ {2}epoch: 1$/m);
      expect(await readFile(join(bump.catalogDir!, 'packages', 'imm-app.yaml'), 'utf8')).toBe(`${onBranch}\n`);
      expect((await git(repo, 'log', '-1', '--format=%s', branch)).stdout).toBe('Rebuild imm-app for imm-lib 2.0.0-r0');
      expect((await git(repo, 'diff', '--name-only', `main..${branch}`)).stdout).toBe('catalog/packages/imm-app.yaml');
      // main and its checkout are untouched
      expect((await git(repo, 'show', 'main:catalog/packages/imm-app.yaml')).stdout).toMatch(/^ {2}epoch: 0$/m);
      expect((await git(repo, 'status', '--porcelain')).stdout).toBe('');

      const again = await run(bumpEpochs, await input(catalogDir));
      expect(again).toEqual(bump);
      expect((await git(repo, 'rev-list', '--count', `main..${branch}`)).stdout).toBe('1');
    });
  });
});
