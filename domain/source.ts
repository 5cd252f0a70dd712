// Domain: source integrity, pure. The rules for catalog.yaml's `source:` section (which branch
// production builds come from, whose commit signatures count) and what a snapshot records about
// the commit it built: verified and by whom, or plainly "unverified source". The git work is done
// by io/source-integrity.ts through adapters/git.ts.
import type { SourceSettings } from './catalog.js';
// Type-only imports: the summary (read by workflows) uses this file, so it stays free of parsers.
import type { FileCheck, Obj } from './catalog-rules.js';

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a run knows of the commit it builds from; recorded in the snapshot and the provenance. */
export interface SourceCheck {
  /** `verified`: signed by a key in source.allowedSigners, and the snapshot is that commit's content. */
  status: 'verified' | 'unverified';
  /** True when this run may publish to production: its commit is on source.branch (always, without source:). */
  production: boolean;
  commit?: string;
  /** The configured main branch (source.branch). */
  branch?: string;
  /** The branch checked out, when one is. */
  checkedOut?: string;
  /** The allowed-signers principal that signed the commit. */
  signer?: string;
  /** Fingerprint of the signing key, e.g. `SHA256:...`. */
  signingKey?: string;
  /** For an unverified source, why, in plain words, starting with "unverified source". */
  note?: string;
}

const KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
];
/**
 * `principal [options] keytype base64` on one line (a newline would add a signer of its own);
 * options without spaces, e.g. namespaces="git",valid-after=20250101.
 */
const SIGNER_LINE = new RegExp(
  `^[^\\s]+([ \\t]+[^\\s]+)?[ \\t]+(${KEY_TYPES.map((t) => t.replace(/[.@]/g, '\\$&')).join('|')})[ \\t]+[A-Za-z0-9+/]+={0,2}([ \\t][^\\n\\r\\0]*)?$`,
);
const BRANCH = /^(?!.*\.\.)(?!\/)(?!.*\/$)[A-Za-z0-9._/-]+$/;
const FIX_SIGNER = 'write "<principal> ssh-ed25519 AAAA..." (a line of an ssh allowed-signers file)';

/** catalog.yaml's `source:` section, taken literally; undefined when absent. */
export function validateSource(value: unknown, check: FileCheck): SourceSettings | undefined {
  if (value === undefined) return undefined;
  if (!isObj(value)) {
    check.add('source', 'must be a mapping', 'write source: { branch: main, allowedSigners: ["..."] }');
    return undefined;
  }
  check.unknownKeys(value, ['branch', 'allowedSigners', 'requireSignedCommits', 'allowUnsignedStaging'], 'source.');
  const branch = value.branch ?? 'main';
  if (typeof branch !== 'string' || !BRANCH.test(branch))
    check.add('source.branch', `invalid branch ${JSON.stringify(branch)}`, 'write the main branch name, e.g. main');
  const flag = (key: 'requireSignedCommits' | 'allowUnsignedStaging', fallback: boolean): boolean => {
    if (value[key] === undefined) return fallback;
    if (typeof value[key] === 'boolean') return value[key];
    check.add(`source.${key}`, 'must be true or false', `write ${key}: ${fallback}`);
    return fallback;
  };
  const requireSignedCommits = flag('requireSignedCommits', true);
  const allowUnsignedStaging = flag('allowUnsignedStaging', false);
  const allowedSigners = check.stringList(value.allowedSigners, 'source.allowedSigners');
  allowedSigners.forEach((line, i) => {
    if (!SIGNER_LINE.test(line.trim()))
      check.add(`source.allowedSigners[${i}]`, `not an allowed-signers line: ${JSON.stringify(line)}`, FIX_SIGNER);
  });
  if (requireSignedCommits && !allowedSigners.length)
    check.add(
      'source.allowedSigners',
      'is empty, so no commit could be built',
      `list the release signers: ${FIX_SIGNER}`,
    );
  return {
    branch: typeof branch === 'string' ? branch : 'main',
    allowedSigners: allowedSigners.map((l) => l.trim()),
    requireSignedCommits,
    allowUnsignedStaging,
  };
}

/** The summary line for a run's source: who signed which commit, or "unverified source" and why. */
export function describeSource(s: SourceCheck): string {
  if (s.status === 'verified')
    return `commit ${s.commit} signed by ${s.signer} (${s.signingKey})${s.production ? ` on ${s.branch}` : ` (staging, not on ${s.branch})`}`;
  return s.note ?? 'unverified source';
}

/** How to fix a commit that is not signed by an allowed signer: the message's last part. */
export function signingFix(branch: string): string {
  return (
    `fix: sign the commit with a key listed in catalog.yaml source.allowedSigners ` +
    `(git -c gpg.format=ssh -c user.signingkey=~/.ssh/id_ed25519 commit --amend --no-edit -S), get it onto ${branch} and run again; ` +
    `or have a listed signer add your public key to source.allowedSigners in a commit they sign`
  );
}

export interface ProvenanceSource {
  verified: boolean;
  commit?: string;
  /** The allowed-signers principal and key fingerprint that signed `commit`. */
  signer?: string;
  signingKey?: string;
  /** source.branch, and whether `commit` is on it (a production build). */
  mainBranch?: string;
  onMainBranch?: boolean;
  /** Why it is unverified: starts with "unverified source". */
  note?: string;
}

/**
 * The provenance's `catalog.source`: the verified commit and its signer, only when the snapshot's
 * check is of the very commit the run built (snapshots are shared by content, and two commits can
 * have the same content); otherwise `verified: false` with the reason.
 */
export function provenanceSource(check: SourceCheck | undefined, gitCommit: string | undefined): ProvenanceSource {
  if (check?.status === 'verified' && check.commit === gitCommit)
    return {
      verified: true,
      commit: check.commit,
      signer: check.signer,
      signingKey: check.signingKey,
      mainBranch: check.branch,
      onMainBranch: check.production,
    };
  const note =
    check?.status === 'verified'
      ? `unverified source: the snapshot was checked at commit ${check.commit}, not at ${gitCommit ?? 'an unknown commit'}`
      : (check?.note ?? 'unverified source');
  return { verified: false, ...(gitCommit ? { commit: gitCommit } : {}), note };
}
