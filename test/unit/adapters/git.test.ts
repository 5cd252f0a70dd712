// verifyCommit asks git itself whether a commit is signed by a key in an allowed-signers list:
// real keys and real commits, signed and unsigned, made here.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitsChanging, currentBranch, firstParent, isAncestor, verifyCommit } from '../../../adapters/git.js';
import { commitAll, gitIn, initRepo, makeKey, type SigningKey } from '../../fixtures/signed-repo.js';

let dir: string;
let repo: string;
let release: SigningKey;
let stranger: SigningKey;
const commits: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-git-'));
  release = await makeKey(dir, 'release');
  stranger = await makeKey(dir, 'stranger');
  repo = join(dir, 'repo');
  await mkdir(repo);
  await initRepo(repo);
  await writeFile(join(repo, 'catalog.yaml'), 'archs: [x86_64]\n');
  commits.signed = await commitAll(repo, 'signed by release', release);
  await writeFile(join(repo, 'a'), 'a\n');
  commits.unsigned = await commitAll(repo, 'unsigned');
  await writeFile(join(repo, 'b'), 'b\n');
  commits.stranger = await commitAll(repo, 'signed by a stranger', stranger);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('verifyCommit', () => {
  const allowed = () => [release.signerLine('kiln-release')];

  it('accepts a commit signed by an allowed signer, naming the principal and the key', async () => {
    expect(await verifyCommit(repo, commits.signed!, allowed())).toMatchObject({
      status: 'good',
      signer: 'kiln-release',
      key: release.fingerprint,
    });
  });

  it('reports an unsigned commit as unsigned', async () => {
    expect((await verifyCommit(repo, commits.unsigned!, allowed())).status).toBe('unsigned');
  });

  it('reports a valid signature by a key not in the list as an unknown signer', async () => {
    const sig = await verifyCommit(repo, commits.stranger!, allowed());
    expect(sig).toMatchObject({ status: 'unknown-signer', key: stranger.fingerprint });
    expect(sig.signer).toBeUndefined();
  });

  it("ignores the repository's own allowed-signers setting: only the list given counts", async () => {
    const own = join(dir, 'repo-signers');
    await writeFile(own, `${stranger.signerLine('kiln-release')}\n`);
    await gitIn(repo, 'config', 'gpg.ssh.allowedSignersFile', own);
    try {
      expect((await verifyCommit(repo, commits.stranger!, allowed())).status).toBe('unknown-signer');
    } finally {
      await gitIn(repo, 'config', '--unset', 'gpg.ssh.allowedSignersFile');
    }
  });

  it('does not take a principal named in the list for another key', async () => {
    const sig = await verifyCommit(repo, commits.signed!, [stranger.signerLine('kiln-release')]);
    expect(sig.status).toBe('unknown-signer');
  });

  it('refuses a signature that is not an SSH signature (GPG), which the list cannot vouch for', async () => {
    const body = (await gitIn(repo, 'cat-file', 'commit', commits.unsigned!)).split('\n');
    const at = body.indexOf('');
    const forged = [
      ...body.slice(0, at),
      'gpgsig -----BEGIN PGP SIGNATURE-----',
      ' iQEzBAABCAAdFiEE',
      ' -----END PGP SIGNATURE-----',
      ...body.slice(at),
    ].join('\n');
    const id = (
      await execa('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: repo, input: `${forged}\n` })
    ).stdout.trim();
    expect(await verifyCommit(repo, id, allowed())).toMatchObject({ status: 'not-ssh', detail: 'a GPG signature' });
  });

  it('reports a signature over other content as bad', async () => {
    // The release key's signature of one commit, moved onto another commit's content.
    const signed = (await gitIn(repo, 'cat-file', 'commit', commits.signed!)).split('\n');
    const sigLines = signed.slice(
      signed.findIndex((l) => l.startsWith('gpgsig ')),
      signed.findIndex((l) => l.includes('-----END SSH SIGNATURE-----')) + 1,
    );
    const body = (await gitIn(repo, 'cat-file', 'commit', commits.unsigned!)).split('\n');
    const at = body.indexOf('');
    const id = (
      await execa('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], {
        cwd: repo,
        input: `${[...body.slice(0, at), ...sigLines, ...body.slice(at)].join('\n')}\n`,
      })
    ).stdout.trim();
    expect((await verifyCommit(repo, id, allowed())).status).toBe('bad');
  });
});

describe('history helpers', () => {
  it('answers ancestry, the branch checked out, first parents and the commits that changed a file', async () => {
    expect(await isAncestor(repo, commits.signed!, 'refs/heads/main')).toBe(true);
    expect(await isAncestor(repo, commits.signed!, 'refs/heads/nonexistent')).toBe(false);
    expect(await currentBranch(repo)).toBe('main');
    expect(await firstParent(repo, commits.unsigned!)).toBe(commits.signed);
    expect(await firstParent(repo, commits.signed!)).toBeUndefined();
    expect(await commitsChanging(repo, commits.stranger!, 'catalog.yaml')).toEqual([commits.signed]);
    await gitIn(repo, 'checkout', '-q', '--detach');
    expect(await currentBranch(repo)).toBeUndefined();
    await gitIn(repo, 'checkout', '-q', 'main');
  });
});
