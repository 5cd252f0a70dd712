// Source integrity at the snapshot: with catalog.yaml `source:`, a run starts only from a commit
// signed by an allowed signer whose files the snapshot is; everything else is refused with the
// commit, the branch and the fix. Real keys, real signed and unsigned commits, made here.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWith, type KilnConfig } from '../../../config/config.js';
import { snapshotCatalog } from '../../../activities/snapshot.js';
import { readSnapshot } from '../../../io/catalog-snapshot.js';
import { isFailure } from '../../../domain/failures.js';
import { FileCheck } from '../../../domain/catalog-rules.js';
import type { CatalogProblem } from '../../../domain/catalog.js';
import { describeSource, provenanceSource, validateSource } from '../../../domain/source.js';
import { bootstrapStateFixture } from '../../fixtures/apkindex-fixture.js';
import { FIXTURES } from '../../fixtures/paths.js';
import { commitAll, gitIn, initRepo, makeKey, withSource, type SigningKey } from '../../fixtures/signed-repo.js';

let scratch: string;
let state: string;
let config: KilnConfig;
let release: SigningKey;
let stranger: SigningKey;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kiln-source-'));
  state = await bootstrapStateFixture();
  // One worker, no registry: snapshots stay in this state directory (KILN_ARTIFACTS=none).
  config = configWith({ KILN_STATE: state, KILN_ARTIFACTS: 'none' }, {});
  release = await makeKey(scratch, 'release');
  stranger = await makeKey(scratch, 'stranger');
});
afterAll(async () => {
  for (const d of [scratch, state]) await rm(d, { recursive: true, force: true });
});

let n = 0;
/** A git repository holding the tiny catalog (in `sub` when given), its catalog.yaml with `source`. */
async function catalogRepo(
  source: Record<string, unknown> | undefined,
  opts: { sub?: string; key?: SigningKey } = {},
): Promise<{ repo: string; catalogDir: string; commit: string }> {
  const repo = join(scratch, `repo-${++n}`);
  const catalogDir = opts.sub ? join(repo, opts.sub) : repo;
  await mkdir(catalogDir, { recursive: true });
  await cp(join(FIXTURES, 'tiny'), catalogDir, { recursive: true });
  const yaml = join(catalogDir, 'catalog.yaml');
  // Each repository's catalog differs, so each gets a snapshot of its own.
  const text = `${await readFile(yaml, 'utf8')}# repository ${n}\n`;
  await writeFile(yaml, source ? withSource(text, source) : text);
  await initRepo(repo);
  const commit = await commitAll(repo, 'the catalog', 'key' in opts ? opts.key : release);
  return { repo, catalogDir, commit };
}

const releaseOnly = () => ({ branch: 'main', allowedSigners: [release.signerLine('kiln-release')] });

/** The failure snapshotCatalog throws, which must be a non-retryable SourceUnverified. */
async function refusal(catalogDir: string): Promise<string> {
  const err = await snapshotCatalog(config, { catalogDir }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isFailure(err, 'SourceUnverified')) throw new Error(`expected SourceUnverified, got ${String(err)}`);
  expect(err.nonRetryable).toBe(true);
  return err.message;
}

describe('a catalog with source:', () => {
  it('builds a commit on main signed by an allowed signer, and records the commit and signer', async () => {
    const { catalogDir, commit } = await catalogRepo(releaseOnly());
    const snapshot = await snapshotCatalog(config, { catalogDir });
    expect(snapshot.gitCommit).toBe(commit);
    expect(snapshot.source).toEqual({
      status: 'verified',
      production: true,
      commit,
      branch: 'main',
      checkedOut: 'main',
      signer: 'kiln-release',
      signingKey: release.fingerprint,
    });
    expect(describeSource(snapshot.source!)).toBe(
      `commit ${commit} signed by kiln-release (${release.fingerprint}) on main`,
    );
    const recorded = await readSnapshot(snapshot.dir);
    expect(recorded.source).toEqual(snapshot.source);
    expect(provenanceSource(recorded.source, commit)).toEqual({
      verified: true,
      commit,
      signer: 'kiln-release',
      signingKey: release.fingerprint,
      mainBranch: 'main',
      onMainBranch: true,
    });
  });

  it('verifies a catalog in a subdirectory of its repository', async () => {
    const { catalogDir } = await catalogRepo(releaseOnly(), { sub: 'catalogs/prod' });
    expect((await snapshotCatalog(config, { catalogDir })).source?.status).toBe('verified');
  });

  it('refuses an unsigned commit, naming the commit, the branch and the fix', async () => {
    const { catalogDir, commit } = await catalogRepo(releaseOnly(), { key: undefined });
    const message = await refusal(catalogDir);
    expect(message).toContain(`commit ${commit} (branch main) is on main, and it is not signed`);
    expect(message).toContain('source.allowedSigners');
    expect(message).toMatch(/fix: sign the commit with a key listed in catalog.yaml source.allowedSigners/);
  });

  it('refuses a commit signed by a key that is not in the list', async () => {
    const { catalogDir, commit } = await catalogRepo(releaseOnly(), { key: stranger });
    const message = await refusal(catalogDir);
    expect(message).toContain(
      `commit ${commit} (branch main) is on main, and it is signed by a key that is not in catalog.yaml source.allowedSigners (${stranger.fingerprint})`,
    );
    expect(message).toContain('fix:');
  });

  it('refuses a commit that adds its own signer to the list', async () => {
    const { repo, catalogDir } = await catalogRepo(releaseOnly());
    await writeFile(
      join(catalogDir, 'catalog.yaml'),
      withSource((await readFile(join(catalogDir, 'catalog.yaml'), 'utf8')).replace(/\nsource: .*\n$/, '\n'), {
        ...releaseOnly(),
        allowedSigners: [release.signerLine('kiln-release'), stranger.signerLine('intruder')],
      }),
    );
    const sneaky = await commitAll(repo, 'trust me', stranger);
    const message = await refusal(catalogDir);
    expect(message).toContain(
      `commit ${sneaky} changed catalog.yaml source: without a signature by a key listed before`,
    );
    expect(message).toContain(`revert ${sneaky.slice(0, 12)}`);
  });

  it('accepts a new signer added by an allowed signer, then that signer', async () => {
    const { repo, catalogDir } = await catalogRepo(releaseOnly());
    const yaml = join(catalogDir, 'catalog.yaml');
    await writeFile(
      yaml,
      withSource((await readFile(yaml, 'utf8')).replace(/\nsource: .*\n$/, '\n'), {
        ...releaseOnly(),
        allowedSigners: [release.signerLine('kiln-release'), stranger.signerLine('new-maintainer')],
      }),
    );
    await commitAll(repo, 'add a maintainer', release);
    await writeFile(join(catalogDir, 'NOTES'), 'by the new maintainer\n');
    await commitAll(repo, 'a change by the new maintainer', stranger);
    expect((await snapshotCatalog(config, { catalogDir })).source).toMatchObject({
      status: 'verified',
      signer: 'new-maintainer',
    });
  });

  it('refuses a catalog directory that is not the commit: uncommitted and untracked files are named', async () => {
    const { catalogDir, commit } = await catalogRepo(releaseOnly());
    await writeFile(join(catalogDir, 'packages', 'tiny-lib.yaml'), '# changed\n', { flag: 'a' });
    await writeFile(join(catalogDir, 'stray.txt'), 'not committed\n');
    const message = await refusal(catalogDir);
    expect(message).toContain(
      `commit ${commit} (branch main) is on main, and the catalog directory is not the commit's content`,
    );
    expect(message).toContain('packages/tiny-lib.yaml, stray.txt');
    expect(message).toContain('fix: commit the changes (signed) or discard them');
  });

  it('reads source: from the commit, not from an uncommitted edit that drops it', async () => {
    const { catalogDir } = await catalogRepo(releaseOnly(), { key: undefined });
    const yaml = join(catalogDir, 'catalog.yaml');
    await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/\nsource: .*\n$/, '\n'));
    expect(await refusal(catalogDir)).toMatch(/is on main, and it is not signed/);
  });

  it('refuses a shallow clone, where who changed source: cannot be checked', async () => {
    const { repo } = await catalogRepo(releaseOnly());
    await writeFile(join(repo, 'NOTES'), 'second\n');
    await commitAll(repo, 'second', release);
    const clone = join(scratch, `shallow-${n}`);
    await execa('git', ['clone', '-q', '--depth', '1', `file://${repo}`, clone]);
    expect(await refusal(clone)).toContain('the clone is shallow');
  });

  describe('a commit off the main branch (a staging build)', () => {
    it('is verified but not production when signed', async () => {
      const { repo, catalogDir } = await catalogRepo(releaseOnly());
      await gitIn(repo, 'checkout', '-q', '-b', 'kiln/update/tiny-lib-1.1');
      await writeFile(join(catalogDir, 'NOTES'), 'update\n');
      const commit = await commitAll(repo, 'update', release);
      expect((await snapshotCatalog(config, { catalogDir })).source).toMatchObject({
        status: 'verified',
        production: false,
        commit,
        checkedOut: 'kiln/update/tiny-lib-1.1',
      });
    });

    it('is refused unsigned, unless allowUnsignedStaging', async () => {
      const { repo, catalogDir } = await catalogRepo(releaseOnly());
      await gitIn(repo, 'checkout', '-q', '-b', 'feature');
      await writeFile(join(catalogDir, 'NOTES'), 'feature\n');
      const commit = await commitAll(repo, 'unsigned feature');
      const message = await refusal(catalogDir);
      expect(message).toContain(
        `commit ${commit} (branch feature) is not on main (production builds come only from main), and it is not signed`,
      );
      expect(message).toContain('allowUnsignedStaging: true');

      const staging = await catalogRepo({ ...releaseOnly(), allowUnsignedStaging: true });
      await gitIn(staging.repo, 'checkout', '-q', '-b', 'feature');
      await writeFile(join(staging.catalogDir, 'NOTES'), 'feature\n');
      const unsigned = await commitAll(staging.repo, 'unsigned feature');
      expect((await snapshotCatalog(config, { catalogDir: staging.catalogDir })).source).toMatchObject({
        status: 'unverified',
        production: false,
        commit: unsigned,
        note: `unverified source: commit ${unsigned} (branch feature): it is not signed`,
      });
    });

    it('is never let through unsigned on main, even with allowUnsignedStaging', async () => {
      const { catalogDir } = await catalogRepo({ ...releaseOnly(), allowUnsignedStaging: true }, { key: undefined });
      expect(await refusal(catalogDir)).toMatch(/is on main, and it is not signed/);
    });
  });

  it('with requireSignedCommits: false builds an unsigned commit, saying "unverified source"', async () => {
    const { catalogDir, commit } = await catalogRepo(
      { ...releaseOnly(), requireSignedCommits: false },
      { key: undefined },
    );
    const snapshot = await snapshotCatalog(config, { catalogDir });
    expect(snapshot.source).toMatchObject({ status: 'unverified', production: true, commit });
    expect(snapshot.source?.note).toBe(`unverified source: commit ${commit} (branch main): it is not signed`);
    expect(provenanceSource(snapshot.source, commit)).toEqual({ verified: false, commit, note: snapshot.source?.note });
  });

  it('refuses a catalog that sets source: outside any git repository', async () => {
    const dir = join(scratch, 'plain');
    await cp(join(FIXTURES, 'tiny'), dir, { recursive: true });
    await writeFile(
      join(dir, 'catalog.yaml'),
      withSource(await readFile(join(dir, 'catalog.yaml'), 'utf8'), releaseOnly()),
    );
    expect(await refusal(dir)).toMatch(/is not in a git repository with a commit, but its catalog.yaml sets source:/);
  });
});

describe('a catalog without source: keeps building as before, as an unverified source', () => {
  it('in a git repository: the commit is recorded, unchecked', async () => {
    const { catalogDir, commit } = await catalogRepo(undefined, { key: undefined });
    const snapshot = await snapshotCatalog(config, { catalogDir });
    expect(snapshot.gitCommit).toBe(commit);
    expect(snapshot.source).toEqual({
      status: 'unverified',
      production: true,
      commit,
      checkedOut: 'main',
      note: `unverified source: catalog.yaml sets no source:, so commit ${commit} (branch main) is built without checking who signed it`,
    });
    expect(provenanceSource(snapshot.source, commit).note).toMatch(/^unverified source: /);
    expect(describeSource(snapshot.source!)).toBe(snapshot.source?.note);
  });

  it('outside git', async () => {
    const dir = join(scratch, 'plain-no-source');
    await cp(join(FIXTURES, 'tiny'), dir, { recursive: true });
    const snapshot = await snapshotCatalog(config, { catalogDir: dir });
    expect(snapshot.gitCommit).toBeUndefined();
    expect(snapshot.source).toEqual({
      status: 'unverified',
      production: true,
      note: 'unverified source: the catalog is not in a git repository (catalog.yaml sets no source:)',
    });
  });
});

describe('validateSource', () => {
  const problems = (value: unknown) => {
    const out: CatalogProblem[] = [];
    validateSource(value, new FileCheck('catalog.yaml', out));
    return out.map((p) => `${p.field}: ${p.message}`);
  };

  it('takes a branch, allowed-signers lines and two flags, with safe defaults', () => {
    const out: CatalogProblem[] = [];
    expect(validateSource({ allowedSigners: [` ${release.signerLine('a')} `] }, new FileCheck('c', out))).toEqual({
      branch: 'main',
      allowedSigners: [release.signerLine('a')],
      requireSignedCommits: true,
      allowUnsignedStaging: false,
    });
    expect(out).toEqual([]);
    expect(problems({ allowedSigners: [`a namespaces="git" ${release.publicKey}`] })).toEqual([]);
  });

  it('rejects what is not an allowed-signers line, an empty list, a bad branch and unknown keys', () => {
    expect(problems({ allowedSigners: ['kiln-release'] })).toEqual([
      'source.allowedSigners[0]: not an allowed-signers line: "kiln-release"',
    ]);
    expect(problems({ allowedSigners: [`a ${release.publicKey}\nb ${stranger.publicKey}`] })[0]).toMatch(
      /^source.allowedSigners\[0\]: not an allowed-signers line/,
    );
    expect(problems({})).toEqual(['source.allowedSigners: is empty, so no commit could be built']);
    expect(problems({ branch: '../x', allowedSigners: [release.signerLine('a')], signed: true })).toEqual([
      'source.signed: unknown key',
      'source.branch: invalid branch "../x"',
    ]);
  });
});

describe('provenanceSource', () => {
  it('claims a signer only for the very commit that was checked (snapshots are shared by content)', () => {
    const check = { status: 'verified' as const, production: true, commit: 'a'.repeat(40), signer: 'kiln-release' };
    expect(provenanceSource(check, 'b'.repeat(40))).toEqual({
      verified: false,
      commit: 'b'.repeat(40),
      note: `unverified source: the snapshot was checked at commit ${'a'.repeat(40)}, not at ${'b'.repeat(40)}`,
    });
    expect(provenanceSource(undefined, undefined)).toEqual({ verified: false, note: 'unverified source' });
  });
});
