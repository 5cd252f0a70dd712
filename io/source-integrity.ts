// I/O: source integrity. Before a run builds a catalog snapshot, the commit it comes from is
// checked with git itself against catalog.yaml's `source:` (as committed, not as in the working
// tree): the snapshot must be exactly that commit's files, the commit must be signed (SSH) by a
// key in source.allowedSigners, and every change to `source:` since it was introduced must be
// signed by a key listed before that change, so a commit cannot add its own signer. Production
// builds come only from commits on source.branch. Without `source:` (or outside git) nothing is
// checked and the result says "unverified source".
import { mkdtemp, realpath, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { SourceSettings } from '../domain/catalog.js';
import { FileCheck, parseYaml } from '../domain/catalog-rules.js';
import type { CatalogProblem } from '../domain/catalog.js';
import { sha256hex } from '../domain/digest.js';
import { failure } from '../domain/failures.js';
import { signingFix, validateSource, type SourceCheck } from '../domain/source.js';
import { readTar } from '../domain/tar.js';
import {
  archiveTree,
  commitsChanging,
  currentBranch,
  firstParent,
  headCommit,
  isAncestor,
  isShallow,
  repositoryRoot,
  showFile,
  verifyCommit,
  type CommitSignature,
} from '../adapters/git.js';
import { catalogFiles, digestOfFiles } from './catalog-snapshot.js';

/** Why a commit is not verified, and what to do about it. */
interface Unverified {
  reason: string;
  fix: string;
}

/** catalog.yaml's `source:` at a commit: undefined when it has none, 'invalid' when it does not validate. */
async function sourceAt(repo: string, commit: string, path: string): Promise<SourceSettings | 'invalid' | undefined> {
  const text = await showFile(repo, commit, path);
  if (!text) return undefined;
  const problems: CatalogProblem[] = [];
  const doc = parseYaml(path, text, problems);
  if (!doc) return 'invalid';
  const source = validateSource(doc.source, new FileCheck(path, problems));
  return problems.length ? 'invalid' : source;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function signatureWords(sig: CommitSignature): string {
  switch (sig.status) {
    case 'unsigned':
      return 'it is not signed';
    case 'unknown-signer':
      return `it is signed by a key that is not in catalog.yaml source.allowedSigners (${sig.key})`;
    case 'not-ssh':
      return `it carries ${sig.detail}; kiln checks SSH signatures only`;
    default:
      return `its signature does not verify (${sig.detail})`;
  }
}

/**
 * Walks the first-parent history of catalog.yaml back to the commit that introduced `source:`:
 * each change of `source:` after that must be signed by a key its parent's list allowed.
 */
async function signerChanges(repo: string, commit: string, path: string): Promise<Unverified | undefined> {
  for (const c of await commitsChanging(repo, commit, path)) {
    const after = await sourceAt(repo, c, path);
    const parent = await firstParent(repo, c);
    const before = parent ? await sourceAt(repo, parent, path) : undefined;
    if (same(after, before)) continue;
    if (before === undefined) return undefined; // c introduced source:, the root of trust
    if (before === 'invalid') continue; // judged with the change that made it invalid
    const sig = await verifyCommit(repo, c, before.allowedSigners);
    if (sig.status !== 'good')
      return {
        reason: `commit ${c} changed catalog.yaml source: without a signature by a key listed before that change (${signatureWords(sig).replace(/^it /, '')})`,
        fix: `fix: redo that change in a commit signed by a key listed in source.allowedSigners before it (revert ${c.slice(0, 12)}, then commit the change again with git commit -S)`,
      };
  }
  return undefined;
}

/** The snapshot must be the commit's tree: a changed, added or untracked file is named. */
async function contentDiffers(
  repo: string,
  commit: string,
  prefix: string,
  catalogDir: string,
  digest: string,
): Promise<Unverified | undefined> {
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-source-'));
  const committed = new Map<string, string>();
  try {
    const tar = join(scratch, 'tree.tar');
    await archiveTree(repo, `${commit}:${prefix}`, tar);
    for (const f of await readTar(await readFile(tar), `git archive of ${commit}`))
      if (f.type === '0' && !f.path.split('/').includes('.git')) committed.set(f.path, sha256hex(f.data));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  if (digestOfFiles(committed) === digest) return undefined;
  const here = await catalogFiles(catalogDir);
  const changed = [...new Set([...committed.keys(), ...here.keys()])]
    .filter((p) => committed.get(p) !== here.get(p))
    .sort();
  return {
    reason: `the catalog directory is not the commit's content (changed, added or untracked: ${changed.slice(0, 5).join(', ') || 'files changed while it was checked'}${changed.length > 5 ? `, and ${changed.length - 5} more` : ''})`,
    fix: 'fix: commit the changes (signed) or discard them (git status shows them), then run again',
  };
}

const refuse = (message: string) => failure('SourceUnverified', message);

/**
 * Checks the commit the catalog in `catalogDir` is checked out at, whose snapshot has `digest`.
 * `worktreeSource` is the `source:` of the catalog.yaml being built. A commit that is not verified
 * is refused (SourceUnverified, non-retryable, naming the commit, the branch and the fix) unless
 * source.requireSignedCommits is false, or it is off source.branch and source.allowUnsignedStaging is true.
 */
export async function checkSource(
  catalogDir: string,
  digest: string,
  worktreeSource: SourceSettings | undefined,
): Promise<SourceCheck> {
  const root = await repositoryRoot(catalogDir);
  const commit = root ? await headCommit(catalogDir) : undefined;
  if (!root || !commit) {
    if (worktreeSource)
      throw refuse(
        `${catalogDir} is not in a git repository with a commit, but its catalog.yaml sets source:, so no signed commit can be checked (fix: build from a clone of the catalog repository, or remove source:)`,
      );
    return {
      status: 'unverified',
      production: true,
      note: 'unverified source: the catalog is not in a git repository (catalog.yaml sets no source:)',
    };
  }
  const prefix = relative(root, await realpath(catalogDir));
  const path = prefix ? `${prefix}/catalog.yaml` : 'catalog.yaml';
  const settings = await sourceAt(root, commit, path);
  const checkedOut = await currentBranch(root);
  const where = `commit ${commit} (${checkedOut ? `branch ${checkedOut}` : 'detached HEAD'})`;
  if (settings === undefined && !worktreeSource)
    return {
      status: 'unverified',
      production: true,
      commit,
      ...(checkedOut ? { checkedOut } : {}),
      note: `unverified source: catalog.yaml sets no source:, so ${where} is built without checking who signed it`,
    };
  if (settings === undefined || settings === 'invalid')
    throw refuse(
      `${where}: catalog.yaml ${settings === 'invalid' ? 'has an invalid source: section at that commit' : 'sets source: but that commit does not'} (fix: commit catalog.yaml with a valid source:, signed)`,
    );
  const onMain = await isAncestor(root, commit, `refs/heads/${settings.branch}`);
  const sig = await verifyCommit(root, commit, settings.allowedSigners);
  // Lazily, in this order: the first reason found is the one reported.
  const unverified: Unverified | undefined =
    (sig.status === 'good' ? undefined : { reason: signatureWords(sig), fix: signingFix(settings.branch) }) ??
    ((await isShallow(root))
      ? {
          reason: 'the clone is shallow, so who changed source: cannot be checked',
          fix: 'fix: git fetch --unshallow, then run again',
        }
      : undefined) ??
    (await signerChanges(root, commit, path)) ??
    (await contentDiffers(root, commit, prefix, catalogDir, digest));
  const base = { commit, branch: settings.branch, ...(checkedOut ? { checkedOut } : {}) };
  if (!unverified) return { status: 'verified', production: onMain, ...base, signer: sig.signer, signingKey: sig.key };
  const onWhat = onMain
    ? `is on ${settings.branch}`
    : `is not on ${settings.branch} (production builds come only from ${settings.branch})`;
  if (settings.requireSignedCommits && (onMain || !settings.allowUnsignedStaging))
    throw refuse(
      `${where} ${onWhat}, and ${unverified.reason}: kiln builds only commits signed by a key in catalog.yaml source.allowedSigners${onMain ? '' : ' (set source.allowUnsignedStaging: true to let staging builds of other branches through unverified)'} (${unverified.fix})`,
    );
  return {
    status: 'unverified',
    production: onMain,
    ...base,
    note: `unverified source: ${where}: ${unverified.reason}`,
  };
}
